"""What the queue reports read: a tenant's queue stays entered in [since, until), with
their case's handle time (one statement, on the ``(queue, entered_at)`` index)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Case, QueueEntry
from storage.repositories._uow import transaction

__all__ = ["ReportRepository", "Stay"]

MAX_STAYS = 200_000  # a report beyond this is refused by the caller rather than read


@dataclass(frozen=True, slots=True)
class Stay:
    """One queue stay as stored."""

    queue: str
    entered_at: datetime
    exit_reason: str | None  # None: still waiting
    wait: timedelta | None
    handle_time: timedelta | None  # the case's service_time


class ReportRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def stays(
        self,
        tenant_id: uuid.UUID,
        since: datetime,
        until: datetime,
        *,
        queue: str | None = None,
        limit: int = MAX_STAYS,
    ) -> list[Stay]:
        stmt = (
            select(
                QueueEntry.queue,
                QueueEntry.entered_at,
                QueueEntry.exit_reason,
                QueueEntry.wait,
                Case.service_time,
            )
            .join(Case, Case.id == QueueEntry.case_id)
            .where(
                Case.tenant_id == tenant_id,
                QueueEntry.entered_at >= since,
                QueueEntry.entered_at < until,
            )
            .order_by(QueueEntry.entered_at)
            .limit(limit)
        )
        if queue is not None:
            stmt = stmt.where(QueueEntry.queue == queue)
        async with transaction(self._sessions) as s:
            rows = (await s.execute(stmt)).all()
        return [Stay(q, at, exit_reason, wait, handle) for q, at, exit_reason, wait, handle in rows]
