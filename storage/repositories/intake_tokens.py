"""Intake tokens per tenant: random, stored only as SHA-256 digests, revocable, rotatable.

A token is bound to the tenant's id (not its slug), so a tenant made later under a reused
slug never inherits a token. :meth:`IntakeTokenRepository.rotate` issues a new token and
lets the tenant's current ones keep working until ``now + overlap``; :meth:`revoke` ends one
at once. Every issue, rotation and revocation is audited (the token itself never is: the
audit row names the token's id and label).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.domain import Actor
from storage.errors import NotFound
from storage.models import IntakeToken, Tenant
from storage.repositories._uow import transaction
from storage.repositories.audit import AuditLog

PREFIX = "lit_"  # "linja intake token": recognisable in a secret scanner
LABEL_LENGTH = 12


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


_BODY = re.compile(r"[A-Za-z0-9_-]{43}")


def well_formed(token: str) -> bool:
    """Shaped like a token :func:`new_token` makes: anything else is refused unasked."""
    return token.startswith(PREFIX) and _BODY.fullmatch(token[len(PREFIX) :]) is not None


@dataclass(frozen=True, slots=True)
class IntakeTokenInfo:
    id: uuid.UUID
    tenant_id: uuid.UUID
    label: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def to_dict(self, now: datetime) -> dict[str, object]:
        return {
            "id": str(self.id),
            "label": self.label,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "expires_at": None if self.expires_at is None else self.expires_at.isoformat(),
            "revoked_at": None if self.revoked_at is None else self.revoked_at.isoformat(),
            "active": self.active(now),
        }


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token: ``token`` is shown once and stored nowhere."""

    token: str
    info: IntakeTokenInfo


def _info(t: IntakeToken) -> IntakeTokenInfo:
    return IntakeTokenInfo(
        id=t.id,
        tenant_id=t.tenant_id,
        label=t.label,
        created_by=t.created_by,
        created_at=t.created_at,
        expires_at=t.expires_at,
        revoked_at=t.revoked_at,
    )


def _live(now: datetime) -> ColumnElement[bool]:
    return IntakeToken.revoked_at.is_(None) & or_(
        IntakeToken.expires_at.is_(None), IntakeToken.expires_at > now
    )


class IntakeTokenRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def verify(self, slug: str, token: str) -> uuid.UUID | None:
        """The id of tenant ``slug`` if ``token`` is one of its live tokens, else None."""
        digest = token_digest(token)
        now = datetime.now(UTC)
        stmt = (
            select(Tenant.id)
            .join(IntakeToken, IntakeToken.tenant_id == Tenant.id)
            .where(Tenant.slug == slug, IntakeToken.token_sha256 == digest, _live(now))
        )
        async with transaction(self._sessions) as s:
            return await s.scalar(stmt)

    async def _issue(
        self,
        s: AsyncSession,
        tenant_id: uuid.UUID,
        actor: Actor,
        expires_at: datetime | None,
    ) -> IssuedToken:
        token = new_token()
        row = IntakeToken(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            token_sha256=token_digest(token),
            label=token[: len(PREFIX) + 8],
            created_by=actor.label[:100],
            expires_at=expires_at,
        )
        s.add(row)
        await s.flush()
        await s.refresh(row)
        return IssuedToken(token, _info(row))

    async def add(
        self, tenant_id: uuid.UUID, actor: Actor, *, expires_at: datetime | None = None
    ) -> IssuedToken:
        async with transaction(self._sessions) as s:
            issued = await self._issue(s, tenant_id, actor, expires_at)
            await self._audit(s, "intake_token.add", actor, issued.info)
            return issued

    async def rotate(
        self, tenant_id: uuid.UUID, actor: Actor, *, overlap: timedelta
    ) -> tuple[IssuedToken, list[IntakeTokenInfo]]:
        """A new token; the tenant's live tokens keep working until now + ``overlap``
        (sooner if they expired sooner). Returns the new token and the old ones as changed."""
        now = datetime.now(UTC)
        until = now + overlap
        async with transaction(self._sessions) as s:
            olds = list(
                await s.scalars(
                    select(IntakeToken)
                    .where(IntakeToken.tenant_id == tenant_id, _live(now))
                    .with_for_update()
                )
            )
            for old in olds:
                if old.expires_at is None or old.expires_at > until:
                    old.expires_at = until
            await s.flush()
            issued = await self._issue(s, tenant_id, actor, None)
            await AuditLog.append_in(
                s,
                "intake_token.rotate",
                actor,
                tenant_id=tenant_id,
                target_type="intake_token",
                target_id=issued.info.id,
                details={
                    "label": issued.info.label,
                    "old": [str(o.id) for o in olds],
                    "old_until": until.isoformat(),
                },
            )
            return issued, [_info(o) for o in olds]

    async def revoke(
        self, tenant_id: uuid.UUID, token_id: uuid.UUID, actor: Actor
    ) -> IntakeTokenInfo:
        async with transaction(self._sessions) as s:
            row = await s.scalar(
                update(IntakeToken)
                .where(
                    IntakeToken.id == token_id,
                    IntakeToken.tenant_id == tenant_id,
                    IntakeToken.revoked_at.is_(None),
                )
                .values(revoked_at=datetime.now(UTC))
                .returning(IntakeToken)
            )
            if row is None:
                raise NotFound("live intake token", token_id)
            info = _info(row)
            await self._audit(s, "intake_token.revoke", actor, info)
            return info

    async def for_tenant(self, tenant_id: uuid.UUID) -> list[IntakeTokenInfo]:
        stmt = (
            select(IntakeToken)
            .where(IntakeToken.tenant_id == tenant_id)
            .order_by(IntakeToken.created_at, IntakeToken.id)
        )
        async with transaction(self._sessions) as s:
            return [_info(t) for t in await s.scalars(stmt)]

    @staticmethod
    async def _audit(s: AsyncSession, action: str, actor: Actor, info: IntakeTokenInfo) -> None:
        await AuditLog.append_in(
            s,
            action,
            actor,
            tenant_id=info.tenant_id,
            target_type="intake_token",
            target_id=info.id,
            details={"label": info.label},
        )
