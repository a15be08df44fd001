"""Phone logins (`*50`) with a lockout that holds across calls, controllers and restarts.

A guess is checked against the user of the dialled tenant whose phone login it names. Each
wrong PIN adds one to that user's count in ``phone_login_locks``; from ``THRESHOLD`` failures
on, the login is locked for an increasing time (:func:`storage.phone_lock.lock_for`).
While locked no PIN is verified (not even the right one). A right PIN outside a lock clears
the count; so does :meth:`PhoneLogins.unlock` (an admin's or operator's command, audited).
Logins of another tenant, unknown logins and disabled users fail the same way, with nothing
counted (there is no user of this tenant to count against).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.domain import Actor
from storage.errors import NotFound
from storage.models import PhoneLoginLock, User
from storage.passwords import Hasher
from storage.phone_lock import PhoneLoginResult, lock_for
from storage.repositories._uow import transaction
from storage.repositories.audit import AuditLog
from storage.repositories.users import user_info

log = logging.getLogger(__name__)


class PhoneLogins:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], hasher: Hasher) -> None:
        self._sessions = sessions
        self._hasher = hasher

    async def attempt(
        self, tenant_id: uuid.UUID, phone_login: str, pin: str, now: datetime
    ) -> PhoneLoginResult:
        async with transaction(self._sessions) as s:
            user = await s.scalar(
                select(User).where(User.phone_login == phone_login, User.tenant_id == tenant_id)
            )
            lock = None if user is None else await s.get(PhoneLoginLock, user.id)
        if user is None or user.phone_pin_hash is None or user.disabled_at is not None:
            return PhoneLoginResult(None)
        if lock is not None and lock.locked_until is not None and lock.locked_until > now:
            return PhoneLoginResult(None, lock.locked_until, lock.failures)
        if await self._hasher.verify(user.phone_pin_hash, pin):
            if lock is not None:
                async with transaction(self._sessions) as s:
                    await s.execute(delete(PhoneLoginLock).where(PhoneLoginLock.user_id == user.id))
            return PhoneLoginResult(user_info(user))
        return await self._failed(user.id, now)

    async def _failed(self, user_id: uuid.UUID, now: datetime) -> PhoneLoginResult:
        async with transaction(self._sessions) as s:
            stmt = (
                insert(PhoneLoginLock)
                .values(user_id=user_id, failures=1, last_failure_at=now)
                .on_conflict_do_update(
                    index_elements=[PhoneLoginLock.user_id],
                    set_={"failures": PhoneLoginLock.failures + 1, "last_failure_at": now},
                )
                .returning(PhoneLoginLock.failures)
            )
            failures = int((await s.execute(stmt)).scalar_one())
            duration = lock_for(failures)
            until = None if duration is None else now + duration
            if until is not None:
                row = await s.get(PhoneLoginLock, user_id, with_for_update=True)
                assert row is not None
                row.locked_until = until
                log.warning(
                    "phone login of user %s locked until %s after %d failures",
                    user_id,
                    until.isoformat(),
                    failures,
                )
            return PhoneLoginResult(None, until, failures)

    async def state(self, user_id: uuid.UUID) -> tuple[int, datetime | None]:
        """(consecutive failures, locked until) of a user's phone login."""
        async with transaction(self._sessions) as s:
            lock = await s.get(PhoneLoginLock, user_id)
        return (0, None) if lock is None else (lock.failures, lock.locked_until)

    async def unlock(self, user_id: uuid.UUID, actor: Actor) -> int:
        """Clear the failures and the lock; the number of failures cleared (audited)."""
        async with transaction(self._sessions) as s:
            user = await s.get(User, user_id)
            if user is None:
                raise NotFound("user", user_id)
            cleared = await s.scalar(
                delete(PhoneLoginLock)
                .where(PhoneLoginLock.user_id == user_id)
                .returning(PhoneLoginLock.failures)
            )
            await AuditLog.append_in(
                s,
                "user.phone_unlock",
                actor,
                tenant_id=user.tenant_id,
                target_type="user",
                target_id=user_id,
                details={"failures_cleared": int(cleared or 0)},
            )
            return int(cleared or 0)
