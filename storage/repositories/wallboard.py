"""The wallboard's figures from Postgres: one tenant's queue stays since a moment (the start
of the tenant's day) and its callback requests still to be made, per queue.

A queue stay (``queue_entries``) is *offered* when it entered the queue in the window;
``closed`` ones have left it (any exit). Waits are seconds; ``answered_in_threshold`` counts
the served stays whose wait was at most their queue's threshold (``thresholds``, default
20 s), ``abandoned_short`` the abandons under ``short_abandon`` seconds.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.types import Float, String

from storage.repositories._uow import transaction

__all__ = ["CallbackCounts", "QueueDay", "WallboardRepository"]

DEFAULT_THRESHOLD = 20.0


@dataclass(frozen=True, slots=True)
class QueueDay:
    queue: str
    offered: int = 0
    closed: int = 0
    answered: int = 0
    answered_in_threshold: int = 0
    abandoned: int = 0
    abandoned_short: int = 0
    overflowed: int = 0
    timeouts: int = 0
    callbacks: int = 0  # left for a callback (pressed the key)
    answered_wait: float = 0.0  # seconds, summed over the answered stays


@dataclass(frozen=True, slots=True)
class CallbackCounts:
    queue: str
    pending: int = 0  # open phone callback requests
    due: int = 0  # of which may be dialled now


_DAY = text(
    """
    WITH t AS (
        SELECT * FROM unnest(:queues, :thresholds) AS t(queue, threshold)
    )
    SELECT q.queue AS queue,
        count(*) AS offered,
        count(*) FILTER (WHERE q.exit_reason IS NOT NULL) AS closed,
        count(*) FILTER (WHERE q.exit_reason = 'served') AS answered,
        count(*) FILTER (
            WHERE q.exit_reason = 'served'
            AND q.wait <= make_interval(
                secs => coalesce(t.threshold, CAST(:default_threshold AS float8)))
        ) AS answered_in_threshold,
        count(*) FILTER (WHERE q.exit_reason = 'abandoned') AS abandoned,
        count(*) FILTER (
            WHERE q.exit_reason = 'abandoned'
            AND q.wait < make_interval(secs => CAST(:short AS float8))
        ) AS abandoned_short,
        count(*) FILTER (WHERE q.exit_reason = 'overflowed') AS overflowed,
        count(*) FILTER (WHERE q.exit_reason = 'timeout') AS timeouts,
        count(*) FILTER (WHERE q.exit_reason = 'callback') AS callbacks,
        coalesce(extract(epoch FROM sum(q.wait) FILTER (WHERE q.exit_reason = 'served')), 0)
            AS answered_wait
    FROM queue_entries q
    JOIN cases c ON c.id = q.case_id
    LEFT JOIN t ON t.queue = q.queue
    WHERE c.tenant_id = :tenant
      AND c.started_at >= CAST(:since AS timestamptz) - interval '1 day'
      AND q.entered_at >= :since
    GROUP BY q.queue
    """
).bindparams(
    bindparam("queues", type_=ARRAY(String)),
    bindparam("thresholds", type_=ARRAY(Float)),
)

_CALLBACKS = text(
    """
    SELECT r.queue AS queue,
        count(*) AS pending,
        count(*) FILTER (WHERE r.next_attempt_at IS NULL OR r.next_attempt_at <= :now) AS due
    FROM contact_requests r
    WHERE r.tenant_id = :tenant AND r.channel = 'phone' AND r.status = 'open'
      AND r.queue IS NOT NULL AND r.callback_number IS NOT NULL
    GROUP BY r.queue
    """
)


class WallboardRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def day(
        self,
        tenant_id: uuid.UUID,
        since: datetime,
        thresholds: Mapping[str, float],
        *,
        short_abandon: float = 5.0,
    ) -> dict[str, QueueDay]:
        """Per queue (by the name the flow file gives it), the stays entered since ``since``."""
        params = {
            "queues": list(thresholds),
            "thresholds": [float(v) for v in thresholds.values()],
            "default_threshold": DEFAULT_THRESHOLD,
            "short": float(short_abandon),
            "tenant": tenant_id,
            "since": since,
        }
        async with transaction(self._sessions) as s:
            rows = (await s.execute(_DAY, params)).mappings().all()
        return {
            str(r["queue"]): QueueDay(
                queue=str(r["queue"]),
                **{k: int(r[k]) for k in _COUNTS},
                answered_wait=float(r["answered_wait"]),
            )
            for r in rows
        }

    async def callbacks(self, tenant_id: uuid.UUID, now: datetime) -> dict[str, CallbackCounts]:
        """Per queue, the open phone callback requests and how many are due at ``now``."""
        async with transaction(self._sessions) as s:
            rows = (await s.execute(_CALLBACKS, {"tenant": tenant_id, "now": now})).mappings()
            return {
                str(r["queue"]): CallbackCounts(str(r["queue"]), int(r["pending"]), int(r["due"]))
                for r in rows.all()
            }


_COUNTS = (
    "offered",
    "closed",
    "answered",
    "answered_in_threshold",
    "abandoned",
    "abandoned_short",
    "overflowed",
    "timeouts",
    "callbacks",
)
