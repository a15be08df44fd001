"""Shared queue state (migration 0020): one queue order for every controller.

A change is one transaction under one advisory transaction lock (:meth:`SharedQueueRows.locked`):
it reads every waiting entry and every agent row, the caller (the shared coordinator) runs the
queue engine on them, and :meth:`SharedQueueTx.write` puts the result back: entries upserted
or deleted, the rings replaced (``queue_rings``' primary key refuses an agent ringing for two
entries), agent rows updated only at the version read (``agent_states.version``: a lost
update is refused), departures for other controllers, and a ``NOTIFY`` on
:data:`NOTIFY_CHANNEL` sent at commit.

Records are plain dicts: entries as their row (``ring`` a JSON object), agents as
``Agent.to_dict`` plus ``version`` (None for an agent without a row yet).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Executable, delete, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.errors import Conflict
from storage.models import AgentStateRow, QueueDepartureRow, QueueRingRow, QueueWaitingRow
from storage.repositories._uow import transaction
from storage.repositories.agent_states import RECORD_FIELDS, _row

__all__ = ["LOCK_NAME", "NOTIFY_CHANNEL", "SharedQueueRows", "SharedQueueTx", "SharedState"]

NOTIFY_CHANNEL = "linja_queues"
LOCK_NAME = "linja shared queues"
ENTRY_FIELDS = ("entry_id", "queue", "kind", "enqueued_at", "seq", "controller", "lease_until")


@dataclass(frozen=True)
class SharedState:
    entries: list[dict[str, Any]]
    agents: list[dict[str, Any]]
    holders: dict[str, str] = field(default_factory=dict)  # agent -> controller of its row
    down: frozenset[str] = frozenset()  # controllers down by their heartbeats (migration 0021)


_DOWN = text(
    "SELECT id FROM controllers"
    " WHERE stopped_at IS NOT NULL OR beat_at < now() - make_interval(secs => :down_after)"
)


async def _load(s: AsyncSession, down_after: float | None = None) -> SharedState:
    entries = (
        (await s.execute(select(QueueWaitingRow).order_by(QueueWaitingRow.seq))).scalars().all()
    )
    agents = (await s.execute(select(AgentStateRow))).scalars().all()
    down: frozenset[str] = frozenset()
    if down_after is not None:
        down = frozenset((await s.execute(_DOWN, {"down_after": down_after})).scalars())
    return SharedState(
        [{**{f: getattr(r, f) for f in ENTRY_FIELDS}, "ring": dict(r.ring)} for r in entries],
        [
            {
                "agent_id": a.agent_id,
                **{f: getattr(a, f) for f in RECORD_FIELDS},
                "version": a.version,
            }
            for a in agents
        ],
        {a.agent_id: a.controller for a in agents},
        down,
    )


class SharedQueueTx:
    """The state read under the lock, and the one write of the transaction."""

    def __init__(self, session: AsyncSession, state: SharedState) -> None:
        self._s = session
        self.state = state

    async def write(
        self,
        *,
        controller: str,
        entries: Sequence[Mapping[str, Any]],
        removed: Sequence[str],
        rings: Sequence[tuple[str, str, str]],  # (agent, entry, offer id)
        agents: Sequence[Mapping[str, Any]],  # changed records, with the version read
        departures: Sequence[Mapping[str, Any]],  # {"entry_id", "controller", "departure", "at"}
        notify: str,
    ) -> None:
        s = self._s
        if removed:
            await s.execute(delete(QueueWaitingRow).where(QueueWaitingRow.entry_id.in_(removed)))
        await s.execute(delete(QueueRingRow))
        if entries:
            stmt = pg_insert(QueueWaitingRow).values([dict(e) for e in entries])
            stmt = stmt.on_conflict_do_update(
                index_elements=["entry_id"],
                set_={
                    **{f: stmt.excluded[f] for f in (*ENTRY_FIELDS[1:], "ring")},
                    "updated_at": text("now()"),
                },
            )
            await s.execute(stmt)
        if rings:
            await s.execute(
                insert(QueueRingRow).values(
                    [{"agent_id": a, "entry_id": e, "offer_id": o} for a, e, o in rings]
                )
            )
        for record in agents:
            await self._save_agent(record, controller)
        if departures:
            stmt = pg_insert(QueueDepartureRow).values([dict(d) for d in departures])
            await s.execute(stmt.on_conflict_do_nothing(index_elements=["entry_id"]))
        await s.execute(text("SELECT pg_notify(:c, :p)"), {"c": NOTIFY_CHANNEL, "p": notify})

    async def _save_agent(self, record: Mapping[str, Any], controller: str) -> None:
        row = _row(record, controller)
        version = record.get("version")
        stmt: Executable
        if version is None:
            stmt = pg_insert(AgentStateRow).values(row).on_conflict_do_nothing()
        else:
            stmt = (
                update(AgentStateRow)
                .where(AgentStateRow.agent_id == row["agent_id"])
                .where(AgentStateRow.version == version)
                .values(
                    **{k: v for k, v in row.items() if k != "agent_id"},
                    version=AgentStateRow.version + 1,
                    updated_at=text("now()"),
                )
            )
        result = await self._s.execute(stmt)
        if getattr(result, "rowcount", 1) != 1:
            raise Conflict(f"agent_states: {row['agent_id']} changed since it was read")


class SharedQueueRows:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, down_after: float | None = None
    ) -> None:
        """``down_after``: a locked transaction also reads which controllers are down by
        their heartbeats (older than that many seconds), so their agents can be freed."""
        self._sessions = sessions
        self._down_after = down_after

    @asynccontextmanager
    async def locked(self) -> AsyncIterator[SharedQueueTx]:
        """A transaction holding the shared-queue lock, with the state as it is now."""
        async with transaction(self._sessions) as s:
            await s.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": LOCK_NAME})
            yield SharedQueueTx(s, await _load(s, self._down_after))

    async def read(self) -> SharedState:
        """The state now, without the lock (what a controller shows and reacts to)."""
        async with transaction(self._sessions) as s:
            return await _load(s)

    async def take_departures(self, controller: str) -> list[dict[str, Any]]:
        """The departures left for ``controller`` (deleted as they are read)."""
        async with transaction(self._sessions) as s:
            rows = (
                await s.execute(
                    delete(QueueDepartureRow)
                    .where(QueueDepartureRow.controller == controller)
                    .returning(QueueDepartureRow.entry_id, QueueDepartureRow.departure)
                )
            ).all()
        return [{"entry_id": r[0], **dict(r[1])} for r in rows]
