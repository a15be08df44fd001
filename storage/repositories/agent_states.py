"""Agent state rows (``agent_states``): the records of the agent board, one row per agent.

Records are the plain dicts of ``Agent.to_dict`` (ISO-8601 strings or datetimes); ``load``
gives them back with datetimes. A save is one upsert per batch, keyed by the agent: the row
names the controller that wrote it and counts its versions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import AgentStateRow
from storage.repositories._uow import transaction

__all__ = ["RECORD_FIELDS", "AgentStateRepository"]

RECORD_FIELDS = (
    "state",
    "since",
    "idle_since",
    "wrap_up_until",
    "pause_reason",
    "offer_id",
    "entry_id",
    "queue",
    "answered_at",
    "pending",
    "pending_reason",
    "calls",
)
_TIMES = frozenset({"since", "idle_since", "wrap_up_until", "answered_at"})


def _value(name: str, value: object) -> object:
    if name in _TIMES and isinstance(value, str):
        return datetime.fromisoformat(value)
    return value


def _row(record: Mapping[str, Any], controller: str) -> dict[str, Any]:
    row = {name: _value(name, record.get(name)) for name in RECORD_FIELDS}
    row["calls"] = int(record.get("calls") or 0)
    return {"agent_id": str(record["agent_id"]), **row, "controller": controller}


class AgentStateRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def save(self, records: Sequence[Mapping[str, Any]], controller: str) -> None:
        """Upserts the records' rows (one transaction)."""
        if not records:
            return
        stmt = insert(AgentStateRow).values([_row(r, controller) for r in records])
        stmt = stmt.on_conflict_do_update(
            index_elements=["agent_id"],
            set_={
                **{name: stmt.excluded[name] for name in (*RECORD_FIELDS, "controller")},
                "version": AgentStateRow.version + 1,
                "updated_at": func.now(),
            },
        )
        async with transaction(self._sessions) as s:
            await s.execute(stmt)

    async def load(self, agents: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Every row (or those of ``agents``) as ``Agent.to_dict``-shaped records."""
        stmt = select(AgentStateRow).order_by(AgentStateRow.agent_id)
        if agents is not None:
            stmt = stmt.where(AgentStateRow.agent_id.in_(list(agents)))
        async with transaction(self._sessions) as s:
            rows = (await s.execute(stmt)).scalars().all()
        return [
            {"agent_id": r.agent_id, **{name: getattr(r, name) for name in RECORD_FIELDS}}
            for r in rows
        ]
