"""Controllers' heartbeats (``controllers``) and the cases of a controller that went down.

Times are the database's (``now()``): controllers on machines whose clocks differ agree on
who is down. A controller is **down** when it stopped cleanly or its last beat is older than
``down_after`` seconds. :meth:`ControllerRepository.end_lost_cases` ends the open cases of
down controllers with outcome ``node_lost`` at the holder's last sign of life (its last beat,
never before the case's own last write, start, service start or queue entry), their open
queue stays with exit ``node_lost``. It is idempotent and safe to run from every controller at
once (``FOR UPDATE SKIP LOCKED``); a controller that was only slow (its beat late, its calls
alive) overwrites the outcome with the real one when its recorder next writes the case (the
case writer's upsert keeps the newest ended values).

A down controller's cases are spared while a newer controller of its node started less than
``adopt_within`` seconds ago: a controller restarted on the same node adopts the calls still
in its Asterisk and takes their cases over (:mod:`storage.repositories.case_takeover`); what
it has not taken by then is ended ``node_lost``, by it or by any other controller.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.events import Outcome, QueueExit
from storage.repositories._uow import transaction

__all__ = ["ControllerRepository", "ControllerView", "LostCase"]

# Seconds a controller restarted on a node has to adopt its predecessor's calls (connect to
# its Asterisk, resync, take their cases over) before their cases are ended node_lost.
ADOPT_WITHIN = 15.0
_REGISTER = text(
    "INSERT INTO controllers (id, node, started_at, beat_at) VALUES (:id, :node, now(), now())"
    " ON CONFLICT (id) DO UPDATE SET node = EXCLUDED.node, beat_at = now(), stopped_at = NULL"
)
_BEAT = text("UPDATE controllers SET beat_at = now() WHERE id = :id RETURNING beat_at")
_STOP = text("UPDATE controllers SET stopped_at = now(), beat_at = now() WHERE id = :id")
_DOWN = "(k.stopped_at IS NOT NULL OR k.beat_at < now() - make_interval(secs => :down_after))"
_END_LOST = text(
    f"""
    WITH lost AS (
        SELECT c.id, c.controller_id,
               GREATEST(k.beat_at, c.updated_at, c.started_at, c.service_started_at,
                        (SELECT max(e.entered_at) FROM queue_entries e WHERE e.case_id = c.id))
                 AS at
        FROM cases c JOIN controllers k ON k.id = c.controller_id
        WHERE c.ended_at IS NULL AND c.controller_id <> :me AND {_DOWN}
          AND NOT EXISTS (
              SELECT 1 FROM controllers n
              WHERE n.node = k.node AND n.started_at > k.started_at AND n.stopped_at IS NULL
                AND n.started_at > now() - make_interval(secs => :adopt_within))
        ORDER BY c.id
        LIMIT :limit
        FOR UPDATE OF c SKIP LOCKED
    ), stays AS (
        UPDATE queue_entries e
        SET left_at = GREATEST(lost.at, e.entered_at), exit_reason = :exit,
            wait = GREATEST(lost.at, e.entered_at) - e.entered_at
        FROM lost WHERE e.case_id = lost.id AND e.left_at IS NULL
        RETURNING e.case_id, e.wait
    )
    UPDATE cases c
    SET ended_at = lost.at, outcome = :outcome, total_time = lost.at - c.started_at,
        service_time = CASE WHEN c.service_started_at IS NOT NULL AND c.service_time IS NULL
                            THEN lost.at - c.service_started_at ELSE c.service_time END,
        queue_wait = COALESCE(c.queue_wait, (SELECT max(s.wait) FROM stays s
                                             WHERE s.case_id = c.id)),
        updated_at = now()
    FROM lost WHERE c.id = lost.id
    RETURNING c.id, lost.controller_id, lost.at
    """
)
# A node whose newest controller has not beaten for FORGET_NODES_AFTER is no longer listed
# (a node taken out of service for good).
FORGET_NODES_AFTER = "1 day"
_NODES = text(
    f"""
    SELECT * FROM (
        SELECT DISTINCT ON (k.node) k.id, k.node, k.started_at, k.beat_at, k.stopped_at,
               NOT {_DOWN} AS up, now() - k.beat_at AS silent
        FROM controllers k
        ORDER BY k.node, k.started_at DESC
    ) newest
    WHERE newest.beat_at > now() - interval '{FORGET_NODES_AFTER}'
    ORDER BY newest.node
    """
)


@dataclass(frozen=True, slots=True)
class LostCase:
    case_id: uuid.UUID
    controller: str  # the controller that was lost
    at: datetime  # the end written: the holder's last beat


@dataclass(frozen=True, slots=True)
class ControllerView:
    """The newest controller of a node, as the wallboard shows it."""

    id: str
    node: str
    started_at: datetime
    beat_at: datetime
    stopped_at: datetime | None
    up: bool
    silent: float  # seconds since its last beat


class ControllerRepository:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        down_after: float,
        adopt_within: float = ADOPT_WITHIN,
    ) -> None:
        self._sessions = sessions
        self._down_after = down_after
        self._adopt_within = adopt_within

    @property
    def down_after(self) -> float:
        return self._down_after

    async def register(self, controller: str, node: str) -> None:
        async with transaction(self._sessions) as s:
            await s.execute(_REGISTER, {"id": controller, "node": node})

    async def beat(self, controller: str, node: str) -> None:
        """A heartbeat (registers the controller again if its row is gone)."""
        async with transaction(self._sessions) as s:
            if (await s.execute(_BEAT, {"id": controller})).first() is None:
                await s.execute(_REGISTER, {"id": controller, "node": node})

    async def stop(self, controller: str) -> None:
        async with transaction(self._sessions) as s:
            await s.execute(_STOP, {"id": controller})

    async def end_lost_cases(self, me: str, *, limit: int = 1000) -> list[LostCase]:
        """Ends (up to ``limit``) open cases of down controllers other than ``me``."""
        params = {
            "me": me,
            "down_after": self._down_after,
            "adopt_within": self._adopt_within,
            "limit": limit,
            "outcome": Outcome.NODE_LOST.value,
            "exit": QueueExit.NODE_LOST.value,
        }
        async with transaction(self._sessions) as s:
            rows = (await s.execute(_END_LOST, params)).all()
        return [LostCase(r[0], r[1], r[2]) for r in rows]

    async def nodes(self) -> list[ControllerView]:
        """The newest controller of each node, up or down, by node address (nodes silent
        for a day left out)."""
        async with transaction(self._sessions) as s:
            rows = (await s.execute(_NODES, {"down_after": self._down_after})).all()
        return [
            ControllerView(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6].total_seconds())
            for r in rows
        ]
