"""Browser sessions and personal API tokens (issue 13).

Both are random tokens (``secrets.token_urlsafe(32)``, 256 bits) minted here and handed to
the caller once; only their SHA-256 is stored, so a copy of the database logs nobody in.

- A session is live while it is not ended, younger than its absolute expiry and seen within
  the idle time. Every lookup also checks that its user is still active: a disabled user's
  session is ended at the next request (reason ``user-disabled``). ``last_seen_at`` is
  written at most once per :data:`TOUCH_EVERY`, not on every request.
- A token is usable while not revoked, not expired and its user active; ``last_used_at`` is
  written the same way. Tokens are revoked, never deleted.

Logins, logouts, token creation and revocation go to the audit log in the same transaction.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.domain import Actor, ApiTokenInfo, UserInfo, WebSessionInfo
from storage.errors import NotFound
from storage.models import ApiToken, User, WebSession
from storage.repositories._uow import transaction
from storage.repositories.audit import AuditLog
from storage.repositories.users import user_info

TOUCH_EVERY = timedelta(seconds=60)
TOKEN_BYTES = 32
MAX_TOKEN = 200  # longer than any token we mint: refused before hashing


def mint() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _session_info(s: WebSession, user: User) -> WebSessionInfo:
    return WebSessionInfo(
        id=s.id,
        user=user_info(user),
        created_at=s.created_at,
        last_seen_at=s.last_seen_at,
        expires_at=s.expires_at,
    )


def _token_info(t: ApiToken) -> ApiTokenInfo:
    return ApiTokenInfo(
        id=t.id,
        user_id=t.user_id,
        name=t.name,
        created_at=t.created_at,
        expires_at=t.expires_at,
        last_used_at=t.last_used_at,
        revoked_at=t.revoked_at,
    )


class WebSessionRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def start(
        self, user: UserInfo, now: datetime, lifetime: timedelta
    ) -> tuple[str, WebSessionInfo]:
        """A new session for ``user`` (audited ``session.login``): (the token, the session)."""
        token = mint()
        async with transaction(self._sessions) as s:
            row = WebSession(
                id=uuid.uuid4(),
                user_id=user.id,
                token_hash=token_hash(token),
                created_at=now,
                last_seen_at=now,
                expires_at=now + lifetime,
            )
            s.add(row)
            await s.flush()
            await AuditLog.append_in(
                s,
                "session.login",
                Actor.user(user),
                tenant_id=user.tenant_id,
                target_type="web_session",
                target_id=row.id,
            )
            return token, WebSessionInfo(row.id, user, now, now, row.expires_at)

    async def current(self, token: str, now: datetime, idle: timedelta) -> WebSessionInfo | None:
        """The live session of ``token``, else None (ending one found expired or disabled)."""
        if len(token) > MAX_TOKEN:
            return None
        async with transaction(self._sessions) as s:
            found = (
                await s.execute(
                    select(WebSession, User)
                    .join(User, User.id == WebSession.user_id)
                    .where(WebSession.token_hash == token_hash(token))
                    .where(WebSession.ended_at.is_(None))
                    .with_for_update(of=WebSession)
                )
            ).first()
            if found is None:
                return None
            row, user = found
            reason = None
            if user.disabled_at is not None:
                reason = "user-disabled"
            elif row.expires_at <= now:
                reason = "expired"
            elif row.last_seen_at + idle <= now:
                reason = "idle"
            if reason is not None:
                row.ended_at, row.end_reason = now, reason
                return None
            if now - row.last_seen_at >= TOUCH_EVERY:
                row.last_seen_at = now
            return _session_info(row, user)

    async def end(self, token: str, now: datetime, actor: Actor) -> bool:
        """End the session of ``token`` (audited ``session.logout``); False if none was live."""
        if len(token) > MAX_TOKEN:
            return False
        async with transaction(self._sessions) as s:
            row = await s.scalar(
                select(WebSession)
                .where(WebSession.token_hash == token_hash(token))
                .where(WebSession.ended_at.is_(None))
                .with_for_update()
            )
            if row is None:
                return False
            row.ended_at, row.end_reason = now, "logout"
            user = await s.get(User, row.user_id)
            await AuditLog.append_in(
                s,
                "session.logout",
                actor,
                tenant_id=None if user is None else user.tenant_id,
                target_type="web_session",
                target_id=row.id,
            )
            return True

    async def end_for_user(self, user_id: uuid.UUID, now: datetime, reason: str) -> int:
        """End every live session of a user (e.g. right after disabling them)."""
        async with transaction(self._sessions) as s:
            rows = list(
                await s.scalars(
                    select(WebSession)
                    .where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
                    .with_for_update()
                )
            )
            for row in rows:
                row.ended_at, row.end_reason = now, reason[:32]
            return len(rows)

    async def purge(self, now: datetime, idle: timedelta, keep: timedelta) -> int:
        """Delete sessions ended, expired or idle for longer than ``keep``."""
        cutoff = now - keep
        async with transaction(self._sessions) as s:
            result = await s.execute(
                delete(WebSession).where(
                    or_(
                        WebSession.ended_at < cutoff,
                        WebSession.expires_at < cutoff,
                        WebSession.last_seen_at < cutoff - idle,
                    )
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)


class ApiTokenRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(
        self,
        user: UserInfo,
        name: str,
        now: datetime,
        expires_at: datetime | None,
        actor: Actor,
    ) -> tuple[str, ApiTokenInfo]:
        """A new token for ``user`` (audited ``token.create``): (the token, once; its row)."""
        token = mint()
        async with transaction(self._sessions) as s:
            row = ApiToken(
                id=uuid.uuid4(),
                user_id=user.id,
                name=name,
                token_hash=token_hash(token),
                created_at=now,
                expires_at=expires_at,
            )
            s.add(row)
            await s.flush()
            await AuditLog.append_in(
                s,
                "token.create",
                actor,
                tenant_id=user.tenant_id,
                target_type="api_token",
                target_id=row.id,
                details={
                    "user": user.login,
                    "name": name,
                    "expires_at": None if expires_at is None else expires_at.isoformat(),
                },
            )
            return token, _token_info(row)

    async def for_user(self, user_id: uuid.UUID) -> list[ApiTokenInfo]:
        async with transaction(self._sessions) as s:
            rows = await s.scalars(
                select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.created_at)
            )
            return [_token_info(t) for t in rows]

    async def get(self, token_id: uuid.UUID) -> ApiTokenInfo:
        async with transaction(self._sessions) as s:
            row = await s.get(ApiToken, token_id)
            if row is None:
                raise NotFound("api token", token_id)
            return _token_info(row)

    async def revoke(
        self,
        token_id: uuid.UUID,
        now: datetime,
        actor: Actor,
        *,
        owner: uuid.UUID | None = None,
    ) -> ApiTokenInfo:
        """Revoke a token (audited ``token.revoke``; again: no change). With ``owner``, a
        token of another user is :class:`NotFound`, like one that does not exist."""
        async with transaction(self._sessions) as s:
            row = await s.get(ApiToken, token_id, with_for_update=True)
            if row is None or (owner is not None and row.user_id != owner):
                raise NotFound("api token", token_id)
            if row.revoked_at is not None:
                return _token_info(row)
            row.revoked_at = now
            user = await s.get(User, row.user_id)
            await s.flush()
            await AuditLog.append_in(
                s,
                "token.revoke",
                actor,
                tenant_id=None if user is None else user.tenant_id,
                target_type="api_token",
                target_id=row.id,
                details={"user": "" if user is None else user.login, "name": row.name},
            )
            return _token_info(row)

    async def identify(self, token: str, now: datetime) -> UserInfo | None:
        """The active user of a usable token, else None."""
        if len(token) > MAX_TOKEN:
            return None
        async with transaction(self._sessions) as s:
            found = (
                await s.execute(
                    select(ApiToken, User)
                    .join(User, User.id == ApiToken.user_id)
                    .where(ApiToken.token_hash == token_hash(token))
                )
            ).first()
            if found is None:
                return None
            row, user = found
            info = _token_info(row)
            if not info.usable(now) or user.disabled_at is not None:
                return None
            if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
                row.last_used_at = now
            return user_info(user)
