"""The agent offers of one ring round, as case timeline steps (:class:`AgentOffered`).

Each agent rung for a queued caller gets one step: when it started ringing, when it stopped
and how: answered, declined (the leg ended before the ring timeout), timeout, unreachable,
missed (ring-all: another agent answered first) or caller_left. Pure bookkeeping; the queue
flow emits the steps when the round is over.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

from ivr.clock import Clock
from storage.events import AgentOffered, EventSink, OfferResult

log = logging.getLogger(__name__)

# A leg that ends this close to the ring timeout rang out (Asterisk ends it at the timeout).
TIMEOUT_MARGIN = 0.5


class OfferRound:
    """One offer to ``agents`` of ``queue`` for case ``case_id``, from now."""

    def __init__(
        self,
        case_id: uuid.UUID,
        queue: str,
        agents: Iterable[str],
        ring_timeout: float,
        clock: Clock,
    ) -> None:
        self._case_id = case_id
        self._queue = queue
        self._agents = tuple(agents)
        self._ring_timeout = ring_timeout
        self._clock = clock
        self.started_at = clock()
        self._ends: dict[str, tuple[datetime, OfferResult]] = {}

    def ended(self, agent: str, result: OfferResult) -> None:
        """The agent's ring ended now with ``result`` (the first word for an agent counts)."""
        self._ends.setdefault(agent, (self._clock(), result))

    def rang_out(self, agent: str, gone: bool) -> None:
        """The agent's leg stopped ringing unanswered (``gone``: the leg hung up)."""
        now = self._clock()
        rang = (now - self.started_at).total_seconds()
        declined = gone and rang < int(self._ring_timeout) - TIMEOUT_MARGIN
        self._ends.setdefault(
            agent, (now, OfferResult.DECLINED if declined else OfferResult.TIMEOUT)
        )

    async def emit(
        self,
        recorder: EventSink,
        rest: OfferResult,
        user_id: Callable[[str], Awaitable[uuid.UUID | None]],
        *,
        tag: str,
    ) -> None:
        """One step per agent; those with no end yet end now with ``rest``."""
        for agent in self._agents:
            self.ended(agent, rest)
        for agent in self._agents:
            at, result = self._ends[agent]
            log.info("[%s] offer to %s in %s: %s", tag, agent, self._queue, result)
            try:
                agent_id = await user_id(agent)
            except Exception as exc:  # the step is kept without the id: never fail the call
                log.warning("[%s] agent %s: no user id for the offer (%s)", tag, agent, exc)
                agent_id = None
            recorder.emit(
                AgentOffered(
                    self._case_id, self.started_at, self._queue, agent, at, result, agent_id
                )
            )
