"""The sweeper's queries: claim expired audio, finish deletions, legal hold, store checks.

Deleting one audio file is three steps, so that a crash (``kill -9``) at any point leaves
nothing the next sweep cannot finish:

1. :meth:`SweepRepository.claim_expired` — one transaction: lock a batch of expired, not
   held, not already claimed rows (``FOR UPDATE SKIP LOCKED``) and set their deletion intent
   (``deleting_since``, ``deleting_reason``). Committed before any file is touched.
2. the caller unlinks the files (idempotent: a missing file is fine);
3. :meth:`SweepRepository.finish` — one transaction: mark the rows deleted (time and reason)
   and append the audit entry that lists them. Only rows still live are marked, so each
   deletion is marked and audited exactly once, whoever finishes it.

:meth:`SweepRepository.stuck` finds rows left between 1 and 3 by a crashed run.
:class:`SweepLock` keeps two sweeps from running at the same time (a session-level advisory
lock on its own connection: it goes away with the process, even after ``kill -9``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.domain import Actor
from storage.errors import Conflict, NotFound
from storage.events import DeletionReason
from storage.repositories._uow import transaction
from storage.repositories.audit import AuditLog

AudioTable = Literal["recordings", "voice_messages"]
AUDIO_TABLES: tuple[AudioTable, ...] = ("recordings", "voice_messages")
KIND: dict[AudioTable, str] = {"recordings": "recording", "voice_messages": "voice_message"}
_RETENTION: dict[AudioTable, str] = {
    "recordings": "recording_retention",
    "voice_messages": "voicemail_retention",
}
# pg_advisory_lock key: "linja-sw" as a signed 64-bit integer.
SWEEP_LOCK_KEY = int.from_bytes(b"linja-sw", "big") - (1 << 63)


@dataclass(frozen=True, slots=True)
class Claimed:
    id: uuid.UUID
    tenant_id: uuid.UUID
    location: str
    reason: DeletionReason


@dataclass(frozen=True, slots=True)
class Due:
    id: uuid.UUID
    tenant_id: uuid.UUID
    location: str
    completed_at: datetime


def _expired(table: AudioTable) -> str:
    return (
        f"a.deleted_at IS NULL AND a.deleting_since IS NULL AND NOT a.legal_hold "
        f"AND a.completed_at < CAST(:now AS timestamptz) - t.{_RETENTION[table]}"
    )


class SweepLock:
    """At most one sweep at a time across every controller and CLI run."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[bool]:
        """Yields True with the lock held, False if another sweep holds it."""
        async with self._engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            got = bool(
                (
                    await auto.execute(
                        text("SELECT pg_try_advisory_lock(:k)"), {"k": SWEEP_LOCK_KEY}
                    )
                ).scalar()
            )
            try:
                yield got
            finally:
                if got:
                    await auto.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": SWEEP_LOCK_KEY})


class SweepRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def tenants(self) -> list[uuid.UUID]:
        async with transaction(self._sessions) as s:
            return [r[0] for r in (await s.execute(text("SELECT id FROM tenants ORDER BY id")))]

    async def claim_expired(
        self,
        table: AudioTable,
        tenant_id: uuid.UUID,
        now: datetime,
        intent_at: datetime,
        *,
        limit: int,
    ) -> list[Claimed]:
        """Step 1: claim up to ``limit`` of the tenant's expired rows, oldest first, and
        commit the intent. One range scan of the partial "sweepable" index."""
        sql = text(
            f"WITH c AS (SELECT a.id FROM {table} a "
            "WHERE a.tenant_id = :tid AND a.deleted_at IS NULL AND a.deleting_since IS NULL "
            "AND NOT a.legal_hold AND a.completed_at < CAST(:now AS timestamptz) - "
            f"(SELECT {_RETENTION[table]} FROM tenants WHERE id = :tid) "
            "ORDER BY a.completed_at, a.id LIMIT :n FOR UPDATE SKIP LOCKED) "
            f"UPDATE {table} r SET deleting_since = :intent, deleting_reason = 'retention' "
            "FROM c WHERE r.id = c.id RETURNING r.id, r.tenant_id, r.location"
        )
        params = {"tid": tenant_id, "now": now, "n": limit, "intent": intent_at}
        async with transaction(self._sessions) as s:
            rows = (await s.execute(sql, params)).all()
        return [Claimed(r[0], r[1], r[2], DeletionReason.RETENTION) for r in rows]

    async def stuck(
        self,
        table: AudioTable,
        *,
        erasure_before: datetime,
        after: uuid.UUID | None,
        limit: int,
    ) -> list[Claimed]:
        """Rows whose deletion was started but not finished (a crashed sweep or erasure).

        Erasure intents newer than ``erasure_before`` are left alone: that erasure may still
        be running (it finishes its own rows within seconds)."""
        sql = text(
            f"SELECT id, tenant_id, location, deleting_reason FROM {table} "
            "WHERE deleted_at IS NULL AND deleting_since IS NOT NULL "
            "AND (deleting_reason <> 'erasure' OR deleting_since < :cutoff) "
            "AND (CAST(:after AS uuid) IS NULL OR id > CAST(:after AS uuid)) "
            "ORDER BY id LIMIT :n"
        )
        async with transaction(self._sessions) as s:
            rows = (
                await s.execute(sql, {"cutoff": erasure_before, "after": after, "n": limit})
            ).all()
        return [Claimed(r[0], r[1], r[2], DeletionReason(r[3])) for r in rows]

    async def due(
        self,
        table: AudioTable,
        now: datetime,
        *,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[Due]:
        """What a sweep at ``now`` would claim (for ``--dry-run``), paged by (time, id)."""
        sql = text(
            f"SELECT a.id, a.tenant_id, a.location, a.completed_at FROM {table} a "
            f"JOIN tenants t ON t.id = a.tenant_id WHERE {_expired(table)} "
            "AND (CAST(:at AS timestamptz) IS NULL "
            "OR (a.completed_at, a.id) > (CAST(:at AS timestamptz), CAST(:aid AS uuid))) "
            "ORDER BY a.completed_at, a.id LIMIT :n"
        )
        params = {
            "now": now,
            "at": after[0] if after else None,
            "aid": after[1] if after else None,
            "n": limit,
        }
        async with transaction(self._sessions) as s:
            rows = (await s.execute(sql, params)).all()
        return [Due(r[0], r[1], r[2], r[3]) for r in rows]

    async def finish(
        self, table: AudioTable, claimed: Sequence[Claimed], at: datetime, actor: Actor
    ) -> int:
        """Step 3: mark the claimed rows deleted (reason = their intent) and audit them, one
        audit entry per tenant and reason listing the ids. Returns how many were marked."""
        if not claimed:
            return 0
        sql = text(
            f"UPDATE {table} SET deleted_at = :at, deletion_reason = deleting_reason, "
            "deleting_since = NULL, deleting_reason = NULL "
            "WHERE id = ANY(:ids) AND deleted_at IS NULL AND deleting_since IS NOT NULL "
            "RETURNING id, tenant_id, deletion_reason"
        )
        async with transaction(self._sessions) as s:
            rows = (await s.execute(sql, {"at": at, "ids": [c.id for c in claimed]})).all()
            groups: dict[tuple[uuid.UUID, str], list[str]] = {}
            for r in rows:
                groups.setdefault((r[1], r[2]), []).append(str(r[0]))
            for (tenant_id, reason), ids in sorted(groups.items(), key=lambda g: str(g[0])):
                await AuditLog.append_in(
                    s,
                    "audio.deleted",
                    actor,
                    tenant_id=tenant_id,
                    target_type=KIND[table],
                    details={"reason": reason, "count": len(ids), "ids": sorted(ids)},
                )
        return len(rows)

    async def states(self, locations: Sequence[str]) -> dict[str, bool]:
        """For each location that has a row: True if the row is live (not deleted)."""
        if not locations:
            return {}
        sql = text(
            "SELECT location, deleted_at IS NULL FROM recordings WHERE location = ANY(:l) "
            "UNION ALL "
            "SELECT location, deleted_at IS NULL FROM voice_messages WHERE location = ANY(:l)"
        )
        async with transaction(self._sessions) as s:
            rows = (await s.execute(sql, {"l": list(locations)})).all()
        out: dict[str, bool] = {}
        for loc, live in rows:
            out[loc] = out.get(loc, False) or bool(live)
        return out

    async def live_locations(
        self, table: AudioTable, *, after: str | None, limit: int
    ) -> list[str]:
        """Locations of live rows, paged by location (for the store check)."""
        sql = text(
            f"SELECT location FROM {table} WHERE deleted_at IS NULL "
            "AND (CAST(:after AS varchar) IS NULL OR location > CAST(:after AS varchar)) "
            "ORDER BY location LIMIT :n"
        )
        async with transaction(self._sessions) as s:
            return [r[0] for r in (await s.execute(sql, {"after": after, "n": limit})).all()]

    async def audit(
        self, action: str, actor: Actor, *, tenant_id: uuid.UUID | None, details: dict[str, object]
    ) -> None:
        async with transaction(self._sessions) as s:
            await AuditLog.append_in(s, action, actor, tenant_id=tenant_id, details=details)

    async def set_hold(
        self,
        table: AudioTable,
        audio_id: uuid.UUID,
        actor: Actor,
        *,
        hold: bool,
        reason: str,
    ) -> uuid.UUID:
        """Place or release a legal hold; returns the tenant. A deleted (or being deleted)
        recording cannot be held: Conflict."""
        sql = text(
            f"SELECT tenant_id, deleted_at, deleting_since, legal_hold FROM {table} "
            "WHERE id = :id FOR UPDATE"
        )
        async with transaction(self._sessions) as s:
            row = (await s.execute(sql, {"id": audio_id})).first()
            if row is None:
                raise NotFound(KIND[table], audio_id)
            tenant_id, deleted_at, deleting_since, held = row
            if hold and (deleted_at is not None or deleting_since is not None):
                raise Conflict(f"{KIND[table]} {audio_id} is deleted; it cannot be held")
            await s.execute(
                text(f"UPDATE {table} SET legal_hold = :h, legal_hold_reason = :r WHERE id = :id"),
                {"h": hold, "r": reason if hold else None, "id": audio_id},
            )
            await AuditLog.append_in(
                s,
                "audio.hold" if hold else "audio.release",
                actor,
                tenant_id=tenant_id,
                target_type=KIND[table],
                target_id=audio_id,
                details={"reason": reason, "was_held": bool(held)},
            )
            return uuid.UUID(str(tenant_id))
