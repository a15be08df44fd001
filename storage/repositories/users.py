"""Users (console and agents). Never deleted: :meth:`UserRepository.disable` instead.

Passwords and phone-login PINs are stored as argon2id hashes only; the role is one of
``operator`` (no tenant) / ``admin`` / ``team`` / ``external`` (a CHECK constraint refuses
anything else). A disabled user is refused at the next login (every request authenticates
against the row); :meth:`UserRepository.enable` lets them in again.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.domain import Actor, Page, UserInfo
from storage.errors import NotFound
from storage.events import Role
from storage.models import User
from storage.passwords import Hasher
from storage.repositories._uow import transaction
from storage.repositories.audit import AuditLog

log = logging.getLogger(__name__)


def user_info(u: User) -> UserInfo:
    return UserInfo(
        id=u.id,
        tenant_id=u.tenant_id,
        name=u.name,
        login=u.login,
        email=u.email,
        role=Role(u.role),
        phone_number=u.phone_number,
        phone_login=u.phone_login,
        has_phone_pin=u.phone_pin_hash is not None,
        created_at=u.created_at,
        disabled_at=u.disabled_at,
    )


class UserRepository:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], hasher: Hasher | None = None
    ) -> None:
        self._sessions = sessions
        self._hasher = hasher or Hasher()

    @property
    def hasher(self) -> Hasher:
        """The hasher this repository's passwords are made with (its parameters)."""
        return self._hasher

    async def create(
        self,
        *,
        tenant_id: uuid.UUID | None,
        name: str,
        login: str,
        password: str,
        role: Role | str,
        actor: Actor,
        email: str | None = None,
        phone_number: str | None = None,
        phone_login: str | None = None,
        phone_pin: str | None = None,
    ) -> UserInfo:
        # The role is checked by the database (ck_users_role_known), not only here.
        role_value = role.value if isinstance(role, Role) else role
        user = User(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            name=name,
            login=login,
            password_hash=await self._hasher.hash(password),
            email=email,
            role=role_value,
            phone_number=phone_number,
            phone_login=phone_login,
            phone_pin_hash=None if phone_pin is None else await self._hasher.hash(phone_pin),
        )
        async with transaction(self._sessions) as s:
            s.add(user)
            await s.flush()
            await s.refresh(user)
            await AuditLog.append_in(
                s,
                "user.create",
                actor,
                tenant_id=tenant_id,
                target_type="user",
                target_id=user.id,
                details={"login": login, "role": role_value},
            )
            return user_info(user)

    async def get(self, user_id: uuid.UUID) -> UserInfo:
        async with transaction(self._sessions) as s:
            user = await s.get(User, user_id)
            if user is None:
                raise NotFound("user", user_id)
            return user_info(user)

    async def by_login(self, login: str) -> UserInfo:
        async with transaction(self._sessions) as s:
            user = await s.scalar(select(User).where(User.login == login))
            if user is None:
                raise NotFound("user", login)
            return user_info(user)

    async def for_tenant(self, tenant_id: uuid.UUID | None = None) -> list[UserInfo]:
        stmt = select(User).order_by(User.login)
        if tenant_id is not None:
            stmt = stmt.where(User.tenant_id == tenant_id)
        async with transaction(self._sessions) as s:
            return [user_info(u) for u in await s.scalars(stmt)]

    async def page(
        self, *, tenant_id: uuid.UUID | None = None, after: str | None = None, limit: int = 50
    ) -> Page[UserInfo]:
        """Users by login (one tenant's, or everyone), ``limit`` of them after ``after``."""
        stmt = select(User).order_by(User.login).limit(limit + 1)
        if tenant_id is not None:
            stmt = stmt.where(User.tenant_id == tenant_id)
        if after is not None:
            stmt = stmt.where(User.login > after)
        async with transaction(self._sessions) as s:
            rows = [user_info(u) for u in await s.scalars(stmt)]
        if len(rows) > limit:
            return Page(rows[:limit], rows[limit - 1].login)
        return Page(rows, None)

    async def authenticate(self, login: str, password: str) -> UserInfo | None:
        """The active user with this login and password, else None (no hint which was wrong)."""
        async with transaction(self._sessions) as s:
            user = await s.scalar(select(User).where(User.login == login))
            stored = None if user is None else user.password_hash
        if user is None or stored is None or user.disabled_at is not None:
            return None
        if not await self._hasher.verify(stored, password):
            return None
        if self._hasher.needs_rehash(stored):
            new_hash = await self._hasher.hash(password)
            async with transaction(self._sessions) as s:
                row = await s.get(User, user.id, with_for_update=True)
                if row is not None:
                    row.password_hash = new_hash
        return user_info(user)

    async def authenticate_phone(self, phone_login: str, pin: str) -> UserInfo | None:
        """Log in by phone: the digits of ``phone_login`` and the PIN."""
        async with transaction(self._sessions) as s:
            user = await s.scalar(select(User).where(User.phone_login == phone_login))
        if user is None or user.phone_pin_hash is None or user.disabled_at is not None:
            return None
        if not await self._hasher.verify(user.phone_pin_hash, pin):
            return None
        return user_info(user)

    async def _change(
        self,
        user_id: uuid.UUID,
        actor: Actor,
        action: str,
        details: dict[str, str],
        **values: object,
    ) -> UserInfo:
        async with transaction(self._sessions) as s:
            user = await s.get(User, user_id, with_for_update=True)
            if user is None:
                raise NotFound("user", user_id)
            for k, v in values.items():
                setattr(user, k, v)
            await s.flush()
            await AuditLog.append_in(
                s,
                action,
                actor,
                tenant_id=user.tenant_id,
                target_type="user",
                target_id=user_id,
                details=details,
            )
            return user_info(user)

    async def set_password(self, user_id: uuid.UUID, password: str, actor: Actor) -> UserInfo:
        hashed = await self._hasher.hash(password)
        return await self._change(user_id, actor, "user.password", {}, password_hash=hashed)

    async def set_phone_login(
        self, user_id: uuid.UUID, phone_login: str | None, pin: str | None, actor: Actor
    ) -> UserInfo:
        hashed = None if pin is None else await self._hasher.hash(pin)
        return await self._change(
            user_id,
            actor,
            "user.phone_login",
            {"phone_login": phone_login or ""},
            phone_login=phone_login,
            phone_pin_hash=hashed,
        )

    async def set_role(self, user_id: uuid.UUID, role: Role | str, actor: Actor) -> UserInfo:
        value = role.value if isinstance(role, Role) else role
        return await self._change(user_id, actor, "user.role", {"role": value}, role=value)

    async def update_contact(
        self,
        user_id: uuid.UUID,
        actor: Actor,
        *,
        name: str | None = None,
        email: str | None = None,
        phone_number: str | None = None,
    ) -> UserInfo:
        values = {
            k: v
            for k, v in (("name", name), ("email", email), ("phone_number", phone_number))
            if v is not None
        }
        return await self._change(
            user_id, actor, "user.contact", {"fields": ",".join(sorted(values))}, **values
        )

    async def update(
        self, user_id: uuid.UUID, actor: Actor, changes: dict[str, str | None]
    ) -> UserInfo:
        """Set ``name``, ``email``, ``phone_number`` (None clears the last two) and ``role``
        in one audited change; the audit row names the fields, not their values."""
        unknown = set(changes) - {"name", "email", "phone_number", "role"}
        if unknown:
            raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
        details = {"fields": ",".join(sorted(changes))}
        if "role" in changes:
            details["role"] = str(changes["role"])
        return await self._change(user_id, actor, "user.update", details, **changes)

    async def disable(self, user_id: uuid.UUID, actor: Actor) -> UserInfo:
        return await self._change(user_id, actor, "user.disable", {}, disabled_at=datetime.now(UTC))

    async def enable(self, user_id: uuid.UUID, actor: Actor) -> UserInfo:
        return await self._change(user_id, actor, "user.enable", {}, disabled_at=None)
