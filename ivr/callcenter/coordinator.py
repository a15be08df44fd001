"""The asyncio side of the queue engine: call flows await their entry's fate.

``QueueCoordinator`` wraps the pure ``QueueEngine`` with an injectable clock. Every change
(enqueue, leave, answer, timeout, call end, agent login/pause/...) runs the engine at once and
delivers events to the affected *tickets*; a periodic ``tick`` (``run()``) ends wrap-ups,
expires entries past max_wait and withdraws forgotten rings. Wake-ups are event-driven
(``asyncio.Event`` per ticket); the only timer is that tick.

Ring timeouts are the **flow's** job. The flow that receives ``Offered`` originates the call
to ``offer.agents`` itself, so it waits up to ``offer.ring_timeout`` for the answer and reports
``ticket.answered(agent)`` or ``ticket.timed_out(agent)`` (also when the agent cannot be
rung at all). The coordinator only keeps a backstop: a ring still unreported ``offer_grace``
seconds after its timeout is timed out by the tick, and the ticket gets ``OfferWithdrawn`` so
the flow hangs up that leg (a late ``answered`` then raises ``OfferGone``).

The queue flow, sketched::

    async with coordinator.waiting(call.channel_id, queue_name) as ticket:
        await call.start_moh(config.moh_class)
        while True:
            event = await ticket.next_event(timeout=config.announce_interval)
            match event:
                case None:                                  # announce interval passed
                    status = ticket.status()                # fresh position and estimate
                    ... announce status.position, status.estimated_wait
                case PositionChanged(position, estimate):
                    ...                                     # optional earlier announcement
                case Offered(offer):
                    agent = ... originate to offer.agents, wait up to offer.ring_timeout
                    if agent is None:
                        for a in offer.agents: ticket.timed_out(a)
                    else:
                        ticket.answered(agent)              # others' legs: hang them up
                        ... bridge; when the call ends: coordinator.call_ended(agent)
                        break
                case OfferWithdrawn(offer, agents):
                    ... hang up those agents' legs
                case Overflow(reason, target):
                    ... send the caller to target (None: goodbye + hang up)
                    break
                case Answered():
                    break                                   # answered via another path
    # leaving the block while still queued (CallHungUp, cancellation) records "abandoned"

Callback entries (``kind="callback"``) use a ticket the same way, held by whatever dials the
callback.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ivr.callcenter.agents import Agent, AgentBoard
from ivr.callcenter.engine import (
    Departure,
    EnqueueResult,
    EntryKind,
    Offer,
    Outcome,
    OverflowReason,
    QueueEngine,
    QueueStats,
)
from ivr.callcenter.errors import OfferGone, TicketClosed
from ivr.clock import Clock
from ivr.flowdefs.model import Queue, Target

__all__ = [
    "AgentStore",
    "Answered",
    "OfferWithdrawn",
    "Offered",
    "Overflow",
    "PositionChanged",
    "QueueCoordinator",
    "QueueEvent",
    "Status",
    "Ticket",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Offered:
    """Ring ``offer.agents`` (one for longest-idle, several for ring-all)."""

    offer: Offer


@dataclass(frozen=True)
class OfferWithdrawn:
    """The backstop timed these agents out: hang up their legs."""

    offer: Offer
    agents: tuple[str, ...]


@dataclass(frozen=True)
class PositionChanged:
    position: int
    estimated_wait: float | None  # seconds; None while no agent is staffed


@dataclass(frozen=True)
class Answered:
    """An agent took the entry (also sent when the flow reported it itself)."""

    departure: Departure


@dataclass(frozen=True)
class Overflow:
    """Refused at entry or waited max_wait: send the caller to ``target``."""

    reason: OverflowReason
    target: Target | None


QueueEvent = Offered | OfferWithdrawn | PositionChanged | Answered | Overflow


@dataclass(frozen=True)
class Status:
    position: int
    estimated_wait: float | None
    offer: Offer | None  # a ring in progress


class AgentStore(Protocol):
    """Where agent state is kept across restarts (``Agent.to_dict`` records)."""

    async def save_agents(self, records: Sequence[Mapping[str, Any]]) -> None: ...


class Ticket:
    """One entry's view of its queue. Made by ``QueueCoordinator.join`` / ``waiting``."""

    def __init__(self, coordinator: QueueCoordinator, result: EnqueueResult) -> None:
        self._coordinator = coordinator
        self.result = result
        self.entry_id = result.entry.entry_id
        self.queue = result.entry.queue
        self.kind: EntryKind = result.entry.kind
        self.departure: Departure | None = None
        self._events: deque[QueueEvent] = deque()
        self._wake = asyncio.Event()
        self._last_position = result.position
        self._offered: str | None = None  # shared queues: the last offer delivered

    @property
    def accepted(self) -> bool:
        return self.result.accepted

    @property
    def done(self) -> bool:
        """The entry has left the queue (answered, overflowed, abandoned, cancelled)."""
        return self.departure is not None

    @property
    def offer(self) -> Offer | None:
        return None if self.done else self._coordinator.engine.current_offer(self.entry_id)

    def status(self) -> Status | None:
        """Position and estimated wait now; None once the entry has left."""
        if self.done:
            return None
        engine, now = self._coordinator.engine, self._coordinator.now()
        return Status(
            engine.position(self.entry_id),
            engine.estimated_wait(self.entry_id, now),
            engine.current_offer(self.entry_id),
        )

    async def next_event(
        self,
        timeout: float | None = None,  # noqa: ASYNC109 - returns None: time to announce
    ) -> QueueEvent | None:
        """The next event, or None when ``timeout`` seconds pass without one. Raises
        ``TicketClosed`` once the entry has left and every event was taken."""
        if not self._events:
            if self.done:
                raise TicketClosed(self.entry_id)
            self._wake.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                return None
            if not self._events:
                raise TicketClosed(self.entry_id)
        return self._events.popleft()

    def answered(self, agent: str) -> Departure:
        """``agent`` answered the current offer. Raises ``OfferGone`` if it was withdrawn."""
        offer = self.offer
        if offer is None:
            raise OfferGone(f"(none current for {self.entry_id})", agent)
        return self._coordinator.answered(offer, agent)

    async def take(self, agent: str) -> Departure:
        """``answered``, settled where the queues are kept (in Postgres for shared queues)."""
        offer = self.offer
        if offer is None:
            raise OfferGone(f"(none current for {self.entry_id})", agent)
        return await self._coordinator.take(offer, agent)

    def timed_out(self, agent: str) -> bool:
        """``agent`` did not answer the current offer in time (or could not be rung)."""
        offer = self.offer
        return offer is not None and self._coordinator.timed_out(offer, agent)

    def leave(self, reason: Outcome = Outcome.ABANDONED) -> Departure | None:
        """Takes the entry out (None if it already left)."""
        return None if self.done else self._coordinator.leave(self.entry_id, reason)

    # -- coordinator side --------------------------------------------------------------------

    def _deliver(self, event: QueueEvent) -> None:
        if (
            isinstance(event, PositionChanged)
            and self._events
            and isinstance(self._events[-1], PositionChanged)
        ):
            self._events[-1] = event  # only the newest position matters
        else:
            self._events.append(event)
        self._wake.set()

    def _close(self, departure: Departure) -> None:
        self.departure = departure
        self._wake.set()


class QueueCoordinator:
    def __init__(
        self,
        engine: QueueEngine,
        clock: Clock,
        *,
        tick_interval: float = 1.0,
        offer_grace: float = 5.0,
        store: AgentStore | None = None,
        store_retry: float = 5.0,
    ) -> None:
        self.engine = engine
        self._clock = clock
        self._tick_interval = tick_interval
        self._grace = offer_grace
        self._store = store
        self._store_retry = store_retry
        self._tickets: dict[str, Ticket] = {}
        self._dirty = asyncio.Event()
        # One save at a time, in the order the changes were drained: two saves in flight (the
        # background one and an agent action's) could commit out of order, an older record
        # over a newer one.
        self._flushing = asyncio.Lock()
        self._watchers: list[Callable[[], None]] = []

    def now(self) -> datetime:
        return self._clock()

    def set_queues(self, queues: Mapping[str, Queue]) -> None:
        """Applies a (re)loaded queue configuration."""
        self.engine.set_queues(queues)

    def on_change(self, watcher: Callable[[], None]) -> None:
        """``watcher()`` runs after every change to entries or agents (e.g. the wallboard);
        it must not block nor raise."""
        self._watchers.append(watcher)

    # -- entries -----------------------------------------------------------------------------

    def join(
        self,
        entry_id: str,
        queue: str,
        *,
        kind: EntryKind = "live",
        since: datetime | None = None,
    ) -> Ticket:
        """Enqueues; a refused entry's ticket holds one ``Overflow`` event and is done."""
        now = self.now()
        result = self.engine.enqueue(entry_id, queue, now, kind, since=since)
        ticket = Ticket(self, result)
        if result.overflow is not None:
            ticket._deliver(Overflow(result.overflow, result.target))
            ticket._close(
                Departure(
                    result.entry,
                    Outcome.OVERFLOW,
                    now,
                    0.0,
                    reason=result.overflow,
                    target=result.target,
                )
            )
            self._changed()
            return ticket
        self._tickets[entry_id] = ticket
        self._pump(now)
        return ticket

    async def enter(
        self,
        entry_id: str,
        queue: str,
        *,
        kind: EntryKind = "live",
        since: datetime | None = None,
    ) -> Ticket:
        """``join``, settled where the queues are kept (in Postgres for shared queues)."""
        return self.join(entry_id, queue, kind=kind, since=since)

    @asynccontextmanager
    async def waiting(
        self,
        entry_id: str,
        queue: str,
        *,
        kind: EntryKind = "live",
        since: datetime | None = None,
    ) -> AsyncIterator[Ticket]:
        """``join``, and on leaving the block while still queued: ``leave(abandoned)``."""
        ticket = await self.enter(entry_id, queue, kind=kind, since=since)
        try:
            yield ticket
        finally:
            if not ticket.done:
                ticket.leave(Outcome.ABANDONED)

    def leave(self, entry_id: str, reason: Outcome = Outcome.ABANDONED) -> Departure:
        now = self.now()
        departure = self.engine.leave(entry_id, now, reason)
        self._finish(departure, None)
        self._pump(now)
        return departure

    def convert_to_callback(self, entry_id: str) -> tuple[str, ...]:
        """The live entry keeps its place as a callback entry; returns withdrawn agents."""
        now = self.now()
        released = self.engine.convert_to_callback(entry_id, now)
        ticket = self._tickets.get(entry_id)
        if ticket is not None:
            ticket.kind = "callback"
        self._pump(now)
        return released

    # -- agent side --------------------------------------------------------------------------

    def answered(self, offer: Offer, agent: str) -> Departure:
        now = self.now()
        departure = self.engine.agent_answered(offer, agent, now)
        self._finish(departure, Answered(departure))
        self._pump(now)
        return departure

    async def take(self, offer: Offer, agent: str) -> Departure:
        return self.answered(offer, agent)

    def timed_out(self, offer: Offer, agent: str) -> bool:
        now = self.now()
        changed = self.engine.offer_timed_out(offer, agent, now)
        self._pump(now)
        return changed

    def call_ended(self, agent: str, service_time: float | None = None) -> Agent:
        return self._agent_change(lambda now: self.engine.call_ended(agent, now, service_time))

    def login(self, agent: str) -> Agent:
        return self._agent_change(lambda now: self.engine.board.login(agent, now))

    def logout(self, agent: str) -> Agent:
        return self._agent_change(lambda now: self.engine.board.logout(agent, now))

    def pause(self, agent: str, reason: str = "") -> Agent:
        return self._agent_change(lambda now: self.engine.board.pause(agent, now, reason))

    def unpause(self, agent: str) -> Agent:
        return self._agent_change(lambda now: self.engine.board.unpause(agent, now))

    async def agent_action(self, agent: str, action: str, reason: str = "") -> Agent:
        """``login``, ``logout``, ``pause`` (with ``reason``) or ``unpause``, settled where
        the agents are kept (in Postgres for shared queues): the agent's record after it."""
        return self._agent_change(
            lambda now: board_action(self.engine.board, agent, action, reason, now)
        )

    # -- time --------------------------------------------------------------------------------

    def tick(self) -> None:
        """Ends due wrap-ups, expires entries, withdraws overdue rings, hands out offers."""
        now = self.now()
        self.engine.tick(now)
        for offer, agent in self.engine.overdue_offers(now, self._grace):
            log.warning(
                "queue %s: entry %s: ring of %s unreported %gs past its timeout, withdrawn",
                offer.entry.queue,
                offer.entry_id,
                agent,
                self._grace,
            )
            self.engine.offer_timed_out(offer, agent, now)
            ticket = self._tickets.get(offer.entry_id)
            if ticket is not None:
                ticket._deliver(OfferWithdrawn(offer, (agent,)))
        self._pump(now)

    async def run(self) -> None:
        """Ticks every ``tick_interval`` seconds (and saves agent changes); cancel to stop."""
        async with asyncio.TaskGroup() as tasks:
            if self._store is not None:
                tasks.create_task(self._persist(self._store))
            while True:
                await asyncio.sleep(self._tick_interval)
                try:
                    self.tick()
                except Exception:
                    log.exception("queue tick failed")

    async def flush_agents(self) -> bool:
        """Saves changed agent records now (e.g. at shutdown); False if the store failed."""
        if self._store is None:
            return True
        async with self._flushing:
            records = self.engine.board.drain_changes()
            if not records:
                return True
            try:
                await self._store.save_agents([r.to_dict() for r in records])
            except Exception as exc:
                self.engine.board.mark_changed(r.agent_id for r in records)
                log.warning(
                    "saving %d agent record(s) failed (%s): %s",
                    len(records),
                    type(exc).__name__,
                    ", ".join(r.agent_id for r in records),
                )
                return False
            return True

    # -- inspection --------------------------------------------------------------------------

    def stats(self, queue: str) -> QueueStats:
        return self.engine.stats(queue, self.now())

    def snapshot(self) -> dict[str, Any]:
        return self.engine.snapshot()

    # -- internals ---------------------------------------------------------------------------

    def _agent_change(self, change: Callable[[datetime], Agent]) -> Agent:
        now = self.now()
        agent = change(now)
        self._pump(now)
        return agent

    def _finish(self, departure: Departure, event: QueueEvent | None) -> None:
        ticket = self._tickets.pop(departure.entry.entry_id, None)
        if ticket is not None:
            if event is not None:
                ticket._deliver(event)
            ticket._close(departure)

    def _pump(self, now: datetime) -> None:
        for departure in self.engine.expired(now):
            assert departure.reason is not None
            self._finish(departure, Overflow(departure.reason, departure.target))
        for offer in self.engine.next_offers(now):
            ticket = self._tickets.get(offer.entry_id)
            if ticket is None:
                log.warning("entry %s: offered but nobody holds its ticket", offer.entry_id)
                continue
            ticket._deliver(Offered(offer))
        for ticket in self._tickets.values():
            position = self.engine.position(ticket.entry_id)
            if position != ticket._last_position:
                ticket._last_position = position
                estimate = self.engine.estimated_wait(ticket.entry_id, now)
                log.info(
                    "queue %s: entry %s now at position %d", ticket.queue, ticket.entry_id, position
                )
                ticket._deliver(PositionChanged(position, estimate))
        if self.engine.board.has_changes:
            self._dirty.set()
        self._changed()

    def _changed(self) -> None:
        for watcher in self._watchers:
            try:
                watcher()
            except Exception:
                log.exception("a queue watcher failed")

    async def _persist(self, store: AgentStore) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            if not await self.flush_agents():
                await asyncio.sleep(self._store_retry)
                self._dirty.set()


def board_action(board: AgentBoard, agent: str, action: str, reason: str, now: datetime) -> Agent:
    match action:
        case "login":
            return board.login(agent, now)
        case "logout":
            return board.logout(agent, now)
        case "pause":
            return board.pause(agent, now, reason)
        case "unpause":
            return board.unpause(agent, now)
    raise ValueError(f"unknown agent action {action!r}")
