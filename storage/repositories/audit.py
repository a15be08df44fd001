"""The append-only, hash-chained audit log (see :mod:`storage.auditchain`).

Appends are serialised by a transaction-scoped advisory lock: the appender reads the newest
row, computes the next id and hash and inserts, all while holding the lock, so concurrent
writers (several controllers, the console, the CLI) cannot fork the chain; the UNIQUE
constraint on ``prev_hash`` would refuse a fork anyway. Other repositories append inside
their own transaction with :meth:`AuditLog.append_in`, so the change and its audit row commit
or fail together.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.auditchain import (
    GENESIS,
    AuditFields,
    ChainReport,
    ChainRow,
    ChainVerifier,
    check_details,
    row_hash,
)
from storage.domain import Actor, AuditEntryView
from storage.models import AuditEntry
from storage.repositories._uow import transaction

# pg_advisory_xact_lock key: "linja-au" as a big-endian 64-bit integer.
AUDIT_LOCK_KEY = int.from_bytes(b"linja-au", "big") - (1 << 63)


@dataclass(frozen=True)
class AuditQuery:
    """A filter of the audit log: each given part must match (action: a prefix such as
    ``user.``; actor: part of the label; target: the target id; since/until: a time range,
    until excluded; before: ids below it, for the next page)."""

    tenant_id: uuid.UUID | None = None
    action: str | None = None
    actor: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: int | None = None
    limit: int = 100


def _view(e: AuditEntry) -> AuditEntryView:
    return AuditEntryView(
        id=e.id,
        at=e.at,
        tenant_id=e.tenant_id,
        actor_user_id=e.actor_user_id,
        actor=e.actor,
        action=e.action,
        target_type=e.target_type,
        target_id=e.target_id,
        details=dict(e.details),
        prev_hash=e.prev_hash,
        row_hash=e.row_hash,
    )


def _chain_row(e: AuditEntry) -> ChainRow:
    return ChainRow(
        fields=AuditFields(
            id=e.id,
            at=e.at,
            actor=e.actor,
            action=e.action,
            tenant_id=e.tenant_id,
            actor_user_id=e.actor_user_id,
            target_type=e.target_type,
            target_id=e.target_id,
            details=e.details,
        ),
        prev_hash=e.prev_hash,
        row_hash=e.row_hash,
    )


@dataclass(frozen=True)
class ChainCheck:
    """A verification from a checkpoint: ``report`` covers the whole chain, walked in full
    ``full_age`` seconds ago and from the checkpoint on since."""

    report: ChainReport
    full_age: float


class AuditLog:
    # How long a full walk of the chain is trusted before ``check`` walks it all again.
    FULL_EVERY = 600.0

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._checkpoint: ChainVerifier | None = None
        self._full_at = 0.0
        self._check_lock = asyncio.Lock()

    async def append(
        self,
        action: str,
        actor: Actor,
        *,
        tenant_id: uuid.UUID | None = None,
        target_type: str | None = None,
        target_id: object | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> AuditEntryView:
        async with transaction(self._sessions) as session:
            return await self.append_in(
                session,
                action,
                actor,
                tenant_id=tenant_id,
                target_type=target_type,
                target_id=target_id,
                details=details,
            )

    @staticmethod
    async def append_in(
        session: AsyncSession,
        action: str,
        actor: Actor,
        *,
        tenant_id: uuid.UUID | None = None,
        target_type: str | None = None,
        target_id: object | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> AuditEntryView:
        """Append inside the caller's transaction (commits or rolls back with it)."""
        clean = check_details(details or {})
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK_KEY})
        last = (
            await session.execute(
                select(AuditEntry.id, AuditEntry.row_hash).order_by(AuditEntry.id.desc()).limit(1)
            )
        ).first()
        last_id, prev = (0, GENESIS) if last is None else (int(last[0]), str(last[1]))
        now = datetime.now(UTC)
        fields = AuditFields(
            id=last_id + 1,
            at=now,
            actor=actor.label,
            action=action,
            tenant_id=tenant_id,
            actor_user_id=actor.user_id,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id),
            details=clean,
        )
        entry = AuditEntry(
            id=fields.id,
            at=fields.at,
            tenant_id=fields.tenant_id,
            actor_user_id=fields.actor_user_id,
            actor=fields.actor,
            action=fields.action,
            target_type=fields.target_type,
            target_id=fields.target_id,
            details=clean,
            prev_hash=prev,
            row_hash=row_hash(prev, fields),
        )
        session.add(entry)
        await session.flush()
        return _view(entry)

    async def recent(
        self, *, limit: int = 100, tenant_id: uuid.UUID | None = None
    ) -> list[AuditEntryView]:
        stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if tenant_id is not None:
            stmt = stmt.where(AuditEntry.tenant_id == tenant_id)
        async with transaction(self._sessions) as session:
            return [_view(e) for e in (await session.scalars(stmt))]

    async def search(self, query: AuditQuery) -> list[AuditEntryView]:
        """Entries matching ``query``, newest first (at most ``query.limit``)."""
        stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(query.limit)
        if query.tenant_id is not None:
            stmt = stmt.where(AuditEntry.tenant_id == query.tenant_id)
        if query.action:
            stmt = stmt.where(AuditEntry.action.startswith(query.action, autoescape=True))
        if query.actor:
            stmt = stmt.where(AuditEntry.actor.contains(query.actor, autoescape=True))
        if query.target:
            stmt = stmt.where(AuditEntry.target_id == query.target)
        if query.since is not None:
            stmt = stmt.where(AuditEntry.at >= query.since)
        if query.until is not None:
            stmt = stmt.where(AuditEntry.at < query.until)
        if query.before is not None:
            stmt = stmt.where(AuditEntry.id < query.before)
        async with transaction(self._sessions) as session:
            return [_view(e) for e in (await session.scalars(stmt))]

    async def verify(self, *, batch: int = 5000) -> ChainReport:
        """Walk the whole chain in id order (in pages) and report the first break."""
        verifier = ChainVerifier()
        await self._feed(verifier, batch=batch)
        return verifier.report()

    async def check(self, *, full: bool = False, batch: int = 5000) -> ChainCheck:
        """The chain's state for a page view, without walking it all each time: the rows
        appended since the last call are verified onto the checkpoint that call left, after
        making sure its last row is unchanged. The whole chain is walked again when ``full``,
        at the first call, when the checkpoint's last row changed, and once ``FULL_EVERY``
        seconds have passed (an edit of an older row shows then, or with ``full``)."""
        async with self._check_lock:
            v = self._checkpoint
            now = self._clock()
            if (
                v is None
                or full
                or now - self._full_at >= self.FULL_EVERY
                or not await self._head_unchanged(v)
            ):
                v, self._full_at = ChainVerifier(), now
            await self._feed(v, batch=batch)
            self._checkpoint = v
            return ChainCheck(v.report(), now - self._full_at)

    async def _head_unchanged(self, v: ChainVerifier) -> bool:
        if not v.rows:
            return True
        async with transaction(self._sessions) as session:
            head = await session.scalar(
                select(AuditEntry.row_hash).where(AuditEntry.id == v.last_id)
            )
        return head == v.expected_prev

    async def _feed(self, verifier: ChainVerifier, *, batch: int) -> None:
        after = verifier.last_id
        while verifier.ok:
            async with transaction(self._sessions) as session:
                page = list(
                    await session.scalars(
                        select(AuditEntry)
                        .where(AuditEntry.id > after)
                        .order_by(AuditEntry.id)
                        .limit(batch)
                    )
                )
            if not page or not verifier.feed(_rows(page)):
                return
            after = page[-1].id


def _rows(page: list[AuditEntry]) -> Iterator[ChainRow]:
    return (_chain_row(e) for e in page)
