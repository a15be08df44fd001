"""The queue engine: who waits where, which agent rings next, overflow and agent state.

Pure and deterministic: no clock reads, no I/O, no asyncio; every call takes ``now``. The
asyncio side (``coordinator.py``) and the call flows drive it.

Entries
    A queue is a line of entries served in arrival order: by ``enqueued_at``, ties by a
    sequence number. An entry is ``live`` (a caller holding, hearing music on hold) or
    ``callback`` (a virtual entry keeping a caller's place; offered to an agent at the head
    like a live one, the lead dials it). Both count in positions. ``enqueue(..., since=t)``
    puts an entry at its original arrival time, so a callback keeps the place of the call it
    replaces; ``convert_to_callback`` turns a waiting live entry into one in place.

Overflow
    A live entry is refused at once (``EnqueueResult.overflow``) when no agent of the queue is
    logged in (``no_agents``; paused agents count as logged in) or ``max_length`` live entries
    already wait (``max_length``); ``expired(now)`` takes out live entries that waited
    ``max_wait`` (``max_wait``; not while an offer to them is ringing), to the queue's
    timeout target (by default its overflow target). Callback entries hold
    no channel: they are never refused and never expire (a queue's overflow target is often
    ``callback:<queue>``, which must not bounce again).

Offers
    ``next_offers(now)`` hands out agents: oldest unoffered entry first, across all queues
    (an agent serving two queues goes to the caller who waited longest), each entry to the
    available agents of its queue. Several entries of a queue may ring different agents at
    once, so a free agent never idles while the head rings an absent one.

    * ``longest-idle``: one agent, the available one idle longest (earliest ``idle_since``;
      ties by the order in the queue's agent list). An agent whose ring timed out for this
      entry is skipped for the rest of the *round*; the round starts again (everyone may be
      rung again) once every staffed agent of the queue has been tried.
    * ``ring-all``: every available agent of the queue at once; the first to answer gets the
      entry, the others are released (``Departure.released``: hang up their legs). When all
      of them timed out, the next offer rings whoever is available then.

    An agent is offered one entry at a time (``AgentBoard.offer`` refuses anything but an
    available agent): an agent never gets two calls. A stale ``offer_timed_out``
    (the ring was already withdrawn) is a no-op returning False; a stale ``agent_answered``
    raises ``OfferGone``.

Ring timeouts are not measured here: the flow that rings the agent reports them (see the
coordinator), and ``overdue_offers(now, grace)`` lists offers nobody reported in time.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from ivr.callcenter.agents import Agent, AgentBoard, AgentState
from ivr.callcenter.errors import DuplicateEntry, OfferGone, UnknownEntry, UnknownQueue
from ivr.callcenter.estimator import (
    DEFAULT_SERVICE_TIME,
    DEFAULT_WINDOW,
    ServiceTimes,
    busy_remaining,
    estimate_wait,
)
from ivr.flowdefs.model import Queue, Target

__all__ = [
    "Departure",
    "EnqueueResult",
    "Entry",
    "EntryKind",
    "Offer",
    "Outcome",
    "OverflowReason",
    "QueueEngine",
    "QueueStats",
    "SavedEntry",
]

log = logging.getLogger(__name__)

EntryKind = Literal["live", "callback"]


class Outcome(StrEnum):
    ANSWERED = "answered"  # an agent took it
    ABANDONED = "abandoned"  # the caller hung up while queued
    OVERFLOW = "overflow"  # refused at entry or max_wait reached: goes to the overflow target
    CANCELLED = "cancelled"  # taken out by the system (e.g. a callback request withdrawn)


class OverflowReason(StrEnum):
    MAX_LENGTH = "max_length"
    NO_AGENTS = "no_agents"
    MAX_WAIT = "max_wait"


@dataclass(frozen=True)
class Entry:
    entry_id: str
    queue: str
    kind: EntryKind
    enqueued_at: datetime
    seq: int

    def waited(self, now: datetime) -> float:
        return max(0.0, (now - self.enqueued_at).total_seconds())


@dataclass(frozen=True)
class Offer:
    """An entry offered to one agent (longest-idle) or several at once (ring-all)."""

    offer_id: str
    entry: Entry
    agents: tuple[str, ...]
    made_at: datetime
    ring_timeout: float  # seconds each agent rings before the flow reports a timeout
    round: int  # longest-idle: which round of trying every agent (1-based)

    @property
    def entry_id(self) -> str:
        return self.entry.entry_id

    @property
    def deadline(self) -> datetime:
        return self.made_at + timedelta(seconds=self.ring_timeout)


@dataclass(frozen=True)
class EnqueueResult:
    entry: Entry
    position: int | None  # None when refused
    estimated_wait: float | None  # seconds; None when refused or no agent is staffed
    overflow: OverflowReason | None = None  # why it was refused
    target: Target | None = None  # where to send a refused caller (None: goodbye + hangup)

    @property
    def accepted(self) -> bool:
        return self.overflow is None


@dataclass(frozen=True)
class Departure:
    """How an entry left its queue; what the case record needs."""

    entry: Entry
    outcome: Outcome
    at: datetime
    wait: float  # seconds in the queue
    agent: str | None = None  # answered: who
    reason: OverflowReason | None = None  # overflow: why
    target: Target | None = None  # overflow: where to
    released: tuple[str, ...] = ()  # agents whose ring was withdrawn: hang up their legs


@dataclass(frozen=True)
class SavedEntry:
    """A waiting entry with its ring state, as shared queues keep it in Postgres."""

    entry: Entry
    offer: Offer | None
    ringing: tuple[str, ...]  # agents of the offer still ringing
    tried: tuple[str, ...]  # longest-idle: timed out this round
    rounds: int
    offers: int


@dataclass(frozen=True)
class QueueStats:
    queue: str
    waiting: int
    live: int
    callbacks: int
    offered: int  # entries with a ring in progress
    longest_wait: float  # seconds, 0 when empty
    agents: dict[AgentState, int]  # the queue's agents by state
    answered: int
    abandoned: int
    overflowed: int
    mean_service_time: float


@dataclass
class _Waiting:
    entry: Entry
    offer: Offer | None = None
    ringing: set[str] = field(default_factory=set)  # agents of the offer still ringing
    tried: set[str] = field(default_factory=set)  # longest-idle: timed out this round
    rounds: int = 1
    offers: int = 0

    @property
    def key(self) -> tuple[datetime, int]:
        return (self.entry.enqueued_at, self.entry.seq)


@dataclass
class _Line:
    name: str
    config: Queue
    service: ServiceTimes
    entries: list[_Waiting] = field(default_factory=list)  # in service order
    retired: bool = False  # removed from the config; kept until its entries are gone
    answered: int = 0
    abandoned: int = 0
    overflowed: int = 0

    def agent_ids(self) -> list[str]:
        return list(dict.fromkeys(self.config.agents))  # de-duplicated, in config order


class QueueEngine:
    """All queues of one controller and the agents who serve them.

    ``queues`` maps the engine's queue names (the lead may use ``tenant/queue``) to their
    configuration; the agent board is shared by all of them.
    """

    def __init__(
        self,
        queues: Mapping[str, Queue],
        board: AgentBoard | None = None,
        *,
        service_window: int = DEFAULT_WINDOW,
        default_service_time: float = DEFAULT_SERVICE_TIME,
    ) -> None:
        self.board = board if board is not None else AgentBoard()
        self._window = service_window
        self._default_service = default_service_time
        self._lines: dict[str, _Line] = {}
        self._where: dict[str, str] = {}  # entry id -> queue name
        self._seq = 0
        self.set_queues(queues)

    # -- configuration -------------------------------------------------------------------------

    def set_queues(self, queues: Mapping[str, Queue]) -> None:
        """Applies a (re)loaded configuration. A removed queue takes no new entries and goes
        away when its last entry leaves; its service-time history is kept until then."""
        for name, config in queues.items():
            line = self._lines.get(name)
            if line is None:
                self._lines[name] = _Line(
                    name, config, ServiceTimes(self._window, self._default_service)
                )
            else:
                line.config, line.retired = config, False
        for name, line in list(self._lines.items()):
            if name not in queues:
                if line.entries:
                    line.retired = True
                    log.info("queue %s: removed from config, retired until empty", name)
                else:
                    del self._lines[name]

    @property
    def queue_names(self) -> list[str]:
        return sorted(n for n, line in self._lines.items() if not line.retired)

    def config(self, queue: str) -> Queue:
        return self._line(queue).config

    # -- entries -------------------------------------------------------------------------------

    def enqueue(
        self,
        entry_id: str,
        queue: str,
        now: datetime,
        kind: EntryKind = "live",
        *,
        since: datetime | None = None,
    ) -> EnqueueResult:
        """Puts an entry in the line at ``since`` (default ``now``), or refuses a live one."""
        line = self._line(queue)
        if line.retired:
            raise UnknownQueue(queue)
        if entry_id in self._where:
            raise DuplicateEntry(entry_id)
        self._seq += 1
        entry = Entry(entry_id, queue, kind, since if since is not None else now, self._seq)
        if kind == "live":
            reason: OverflowReason | None = None
            if not any(self.board.get(a).logged_in for a in line.agent_ids()):
                reason = OverflowReason.NO_AGENTS
            elif sum(w.entry.kind == "live" for w in line.entries) >= line.config.max_length:
                reason = OverflowReason.MAX_LENGTH
            if reason is not None:
                line.overflowed += 1
                log.info(
                    "queue %s: entry %s refused (%s) -> %s",
                    queue,
                    entry_id,
                    reason,
                    line.config.overflow or "goodbye",
                )
                return EnqueueResult(entry, None, None, reason, line.config.overflow)
        waiting = _Waiting(entry)
        index = len(line.entries)
        while index > 0 and line.entries[index - 1].key > waiting.key:
            index -= 1
        line.entries.insert(index, waiting)
        self._where[entry_id] = queue
        position = index + 1
        estimate = self._estimate(line, position, now)
        log.info(
            "queue %s: entry %s (%s) enqueued at position %d, estimated wait %s",
            queue,
            entry_id,
            kind,
            position,
            "unknown" if estimate is None else f"{estimate:.0f}s",
        )
        return EnqueueResult(entry, position, estimate)

    def entry(self, entry_id: str) -> Entry:
        return self._find(entry_id)[1].entry

    def is_waiting(self, entry_id: str) -> bool:
        return entry_id in self._where

    def position(self, entry_id: str) -> int:
        """1-based, counting every live and callback entry ahead."""
        line, waiting = self._find(entry_id)
        return line.entries.index(waiting) + 1

    def estimated_wait(self, entry_id: str, now: datetime) -> float | None:
        """Seconds, by the estimator's formula at this moment; None if nobody is staffed."""
        line, waiting = self._find(entry_id)
        return self._estimate(line, line.entries.index(waiting) + 1, now)

    def current_offer(self, entry_id: str) -> Offer | None:
        return self._find(entry_id)[1].offer

    def leave(self, entry_id: str, now: datetime, reason: Outcome = Outcome.ABANDONED) -> Departure:
        """The entry leaves: the caller hung up (abandoned) or it was withdrawn (cancelled).
        A ring in progress for it is withdrawn: hang up the ``released`` agents' legs."""
        if reason not in (Outcome.ABANDONED, Outcome.CANCELLED):
            raise ValueError(f"leave() is for abandoned or cancelled entries, not {reason}")
        line, waiting = self._find(entry_id)
        released = self._withdraw(waiting, now)
        self._remove(line, waiting)
        if reason is Outcome.ABANDONED:
            line.abandoned += 1
        departure = Departure(
            waiting.entry, reason, now, waiting.entry.waited(now), released=released
        )
        log.info(
            "queue %s: entry %s %s after %.1fs%s",
            line.name,
            entry_id,
            reason,
            departure.wait,
            f", released {', '.join(released)}" if released else "",
        )
        return departure

    def convert_to_callback(self, entry_id: str, now: datetime) -> tuple[str, ...]:
        """A live entry becomes a callback entry in the same place; returns the agents whose
        ring for it was withdrawn."""
        line, waiting = self._find(entry_id)
        released = self._withdraw(waiting, now)
        e = waiting.entry
        waiting.entry = Entry(e.entry_id, e.queue, "callback", e.enqueued_at, e.seq)
        log.info(
            "queue %s: entry %s is now a callback at position %d",
            line.name,
            entry_id,
            line.entries.index(waiting) + 1,
        )
        return released

    def expired(self, now: datetime) -> list[Departure]:
        """Takes out live entries that waited max_wait: to the queue's timeout target."""
        gone: list[Departure] = []
        for line in list(self._lines.values()):
            limit = line.config.max_wait
            for waiting in list(line.entries):
                e = waiting.entry
                if e.kind != "live" or waiting.offer is not None or e.waited(now) < limit:
                    continue
                self._remove(line, waiting)
                line.overflowed += 1
                d = Departure(
                    e,
                    Outcome.OVERFLOW,
                    now,
                    e.waited(now),
                    reason=OverflowReason.MAX_WAIT,
                    target=line.config.timeout_target,
                )
                log.info(
                    "queue %s: entry %s waited %.1fs >= max_wait %gs -> %s",
                    line.name,
                    e.entry_id,
                    d.wait,
                    limit,
                    d.target or "goodbye",
                )
                gone.append(d)
        return gone

    # -- offers --------------------------------------------------------------------------------

    def next_offers(self, now: datetime) -> list[Offer]:
        """New offers: oldest unoffered entry first, each to its queue's available agents."""
        pending = sorted(
            (w for line in self._lines.values() for w in line.entries if w.offer is None),
            key=lambda w: w.key,
        )
        offers: list[Offer] = []
        for waiting in pending:
            line = self._lines[waiting.entry.queue]
            agents = self._pick(line, waiting, now)
            if not agents:
                continue
            waiting.offers += 1
            offer = Offer(
                offer_id=f"{waiting.entry.entry_id}/{waiting.offers}",
                entry=waiting.entry,
                agents=agents,
                made_at=now,
                ring_timeout=line.config.ring_timeout,
                round=waiting.rounds,
            )
            for agent in agents:
                self.board.offer(
                    agent, now, offer_id=offer.offer_id, entry_id=offer.entry_id, queue=line.name
                )
            waiting.offer, waiting.ringing = offer, set(agents)
            log.info(
                "queue %s: entry %s offered to %s (%s, round %d)",
                line.name,
                offer.entry_id,
                ", ".join(agents),
                offer.offer_id,
                offer.round,
            )
            offers.append(offer)
        return offers

    def offer_timed_out(self, offer: Offer, agent: str, now: datetime) -> bool:
        """The agent did not answer in time (or could not be rung): it is available again and
        the entry goes to the next agent. False (and nothing changes) for a stale offer."""
        waiting = self._ringing(offer, agent)
        if waiting is None:
            log.info("offer %s: timeout of agent %s is stale, ignored", offer.offer_id, agent)
            return False
        self.board.release(agent, now)
        waiting.ringing.discard(agent)
        waiting.tried.add(agent)
        log.info("queue %s: entry %s not answered by %s", offer.entry.queue, offer.entry_id, agent)
        if not waiting.ringing:
            waiting.offer = None
        return True

    def agent_answered(self, offer: Offer, agent: str, now: datetime) -> Departure:
        """The agent took the entry: it leaves the queue, the agent is busy, other ring-all
        agents are released. Raises ``OfferGone`` for a stale offer (hang up the agent)."""
        waiting = self._ringing(offer, agent)
        if waiting is None:
            raise OfferGone(offer.offer_id, agent)
        line = self._lines[waiting.entry.queue]
        self.board.answer(agent, now)
        waiting.ringing.discard(agent)
        released = self._withdraw(waiting, now)
        self._remove(line, waiting)
        line.answered += 1
        d = Departure(
            waiting.entry,
            Outcome.ANSWERED,
            now,
            waiting.entry.waited(now),
            agent=agent,
            released=released,
        )
        log.info(
            "queue %s: entry %s answered by %s after %.1fs%s",
            line.name,
            d.entry.entry_id,
            agent,
            d.wait,
            f", released {', '.join(released)}" if released else "",
        )
        return d

    def overdue_offers(self, now: datetime, grace: float) -> list[tuple[Offer, str]]:
        """(offer, agent) still ringing ``grace`` seconds past the ring timeout."""
        late: list[tuple[Offer, str]] = []
        for line in self._lines.values():
            for waiting in line.entries:
                offer = waiting.offer
                if offer is not None and now >= offer.deadline + timedelta(seconds=grace):
                    late.extend((offer, a) for a in offer.agents if a in waiting.ringing)
        return late

    # -- agents --------------------------------------------------------------------------------

    def call_ended(self, agent: str, now: datetime, service_time: float | None = None) -> Agent:
        """The agent's call ended: wrap-up of the call's queue starts; the talk time
        (``service_time``, default since the answer) feeds that queue's estimator."""
        record = self.board.get(agent)
        line = self._lines.get(record.queue) if record.queue is not None else None
        if record.state is AgentState.BUSY and line is not None:
            if service_time is None and record.answered_at is not None:
                service_time = (now - record.answered_at).total_seconds()
            if service_time is not None:
                line.service.record(service_time)
                log.info(
                    "queue %s: agent %s served %.1fs (mean now %.1fs)",
                    line.name,
                    agent,
                    service_time,
                    line.service.mean,
                )
        return self.board.end_call(agent, now, line.config.wrap_up if line is not None else 0.0)

    def tick(self, now: datetime) -> list[Agent]:
        """Ends due wrap-ups; returns the agents that became available."""
        return self.board.tick(now)

    # -- inspection and persistence --------------------------------------------------------------

    def stats(self, queue: str, now: datetime) -> QueueStats:
        line = self._line(queue)
        by_state = dict.fromkeys(AgentState, 0)
        for a in line.agent_ids():
            by_state[self.board.state(a)] += 1
        return QueueStats(
            queue=queue,
            waiting=len(line.entries),
            live=sum(w.entry.kind == "live" for w in line.entries),
            callbacks=sum(w.entry.kind == "callback" for w in line.entries),
            offered=sum(w.offer is not None for w in line.entries),
            longest_wait=max((w.entry.waited(now) for w in line.entries), default=0.0),
            agents=by_state,
            answered=line.answered,
            abandoned=line.abandoned,
            overflowed=line.overflowed,
            mean_service_time=line.service.mean,
        )

    def waiting(self, queue: str) -> list[tuple[Entry, bool]]:
        """The entries waiting in ``queue`` in service order, each with whether a ring for it
        is in progress (an unknown queue has none)."""
        line = self._lines.get(queue)
        return [] if line is None else [(w.entry, w.offer is not None) for w in line.entries]

    def snapshot(self) -> dict[str, Any]:
        """Plain, JSON-ready state: agents (for ``restore``), and per queue its waiting
        entries (for inspection) and recent service times (for ``restore``)."""
        return {
            "agents": self.board.snapshot(),
            "queues": {
                name: {
                    "entries": [
                        {
                            "entry_id": w.entry.entry_id,
                            "kind": w.entry.kind,
                            "enqueued_at": w.entry.enqueued_at.isoformat(),
                            "offer_id": w.offer.offer_id if w.offer else None,
                            "ringing": sorted(w.ringing),
                            "tried": sorted(w.tried),
                        }
                        for w in line.entries
                    ],
                    "service_times": line.service.values(),
                    "answered": line.answered,
                    "abandoned": line.abandoned,
                    "overflowed": line.overflowed,
                }
                for name, line in sorted(self._lines.items())
            },
        }

    @classmethod
    def restore(
        cls,
        queues: Mapping[str, Queue],
        data: Mapping[str, Any],
        now: datetime,
        *,
        still_busy: Collection[str] = (),
        service_window: int = DEFAULT_WINDOW,
        default_service_time: float = DEFAULT_SERVICE_TIME,
    ) -> QueueEngine:
        """An engine from ``snapshot()`` after a restart: agent state (see
        ``AgentBoard.restore``) and service-time history. Waiting entries are not restored:
        live callers' legs belonged to the old process, and callback entries are re-enqueued
        (with ``since=``) by whoever keeps the callback requests."""
        board = AgentBoard.restore(data.get("agents", ()), now, still_busy=still_busy)
        engine = cls(
            queues,
            board,
            service_window=service_window,
            default_service_time=default_service_time,
        )
        for name, saved in dict(data.get("queues", {})).items():
            line = engine._lines.get(name)
            if line is not None:
                times: Iterable[float] = saved.get("service_times", ())
                for seconds in times:
                    line.service.record(seconds)
        return engine

    def saved_entries(self) -> list[SavedEntry]:
        """Every waiting entry with its ring state, in service order per queue."""
        return [
            SavedEntry(
                w.entry,
                w.offer,
                tuple(sorted(w.ringing)),
                tuple(sorted(w.tried)),
                w.rounds,
                w.offers,
            )
            for line in self._lines.values()
            for w in line.entries
        ]

    def load_entries(self, entries: Iterable[SavedEntry], board: AgentBoard) -> None:
        """Replaces every waiting entry and the agent board with ``entries`` and ``board`` (the
        shared state of several controllers); service-time history and counters stay. An
        entry of a queue this engine does not know is skipped."""
        self.board = board
        for each in self._lines.values():
            each.entries = []
        self._where = {}
        for saved in sorted(entries, key=lambda s: (s.entry.enqueued_at, s.entry.seq)):
            line = self._lines.get(saved.entry.queue)
            if line is None:
                log.warning(
                    "queue %s: entry %s of an unknown queue skipped",
                    saved.entry.queue,
                    saved.entry.entry_id,
                )
                continue
            line.entries.append(
                _Waiting(
                    saved.entry,
                    saved.offer,
                    set(saved.ringing),
                    set(saved.tried),
                    saved.rounds,
                    saved.offers,
                )
            )
            self._where[saved.entry.entry_id] = saved.entry.queue
            self._seq = max(self._seq, saved.entry.seq)
        for line in [line for line in self._lines.values() if line.retired and not line.entries]:
            del self._lines[line.name]

    # -- internals -----------------------------------------------------------------------------

    def _line(self, queue: str) -> _Line:
        try:
            return self._lines[queue]
        except KeyError:
            raise UnknownQueue(queue) from None

    def _find(self, entry_id: str) -> tuple[_Line, _Waiting]:
        queue = self._where.get(entry_id)
        if queue is None:
            raise UnknownEntry(entry_id)
        line = self._lines[queue]
        for waiting in line.entries:
            if waiting.entry.entry_id == entry_id:
                return line, waiting
        raise UnknownEntry(entry_id)  # pragma: no cover - _where and lines agree

    def _remove(self, line: _Line, waiting: _Waiting) -> None:
        line.entries.remove(waiting)
        del self._where[waiting.entry.entry_id]
        if line.retired and not line.entries:
            del self._lines[line.name]
            log.info("queue %s: retired queue empty, dropped", line.name)

    def _withdraw(self, waiting: _Waiting, now: datetime) -> tuple[str, ...]:
        """Releases the agents still ringing for the entry's offer."""
        if waiting.offer is None:
            return ()
        released = tuple(a for a in waiting.offer.agents if a in waiting.ringing)
        for agent in released:
            self.board.release(agent, now)
        waiting.offer, waiting.ringing = None, set()
        return released

    def _ringing(self, offer: Offer, agent: str) -> _Waiting | None:
        """The entry of ``offer`` if that offer is current and ``agent`` still rings for it."""
        queue = self._where.get(offer.entry_id)
        if queue is None:
            return None
        for waiting in self._lines[queue].entries:
            if waiting.entry.entry_id == offer.entry_id:
                current = waiting.offer
                if current is not None and current.offer_id == offer.offer_id:
                    return waiting if agent in waiting.ringing else None
                return None
        return None

    def _pick(self, line: _Line, waiting: _Waiting, now: datetime) -> tuple[str, ...]:
        ids = line.agent_ids()
        order = {a: i for i, a in enumerate(ids)}
        records = [self.board.get(a) for a in ids]
        available = sorted(
            (r for r in records if r.state is AgentState.AVAILABLE),
            key=lambda r: (r.idle_since or now, order[r.agent_id]),
        )
        if not available:
            return ()
        if line.config.strategy == "ring-all":
            return tuple(r.agent_id for r in available)
        untried = [r for r in available if r.agent_id not in waiting.tried]
        if not untried:
            staffed = {r.agent_id for r in records if r.staffed}
            if not staffed <= waiting.tried:
                return ()  # someone busy has not been tried yet: wait for them
            waiting.tried.clear()
            waiting.rounds += 1
            log.info(
                "queue %s: entry %s: every agent tried, round %d",
                line.name,
                waiting.entry.entry_id,
                waiting.rounds,
            )
            untried = available
        return (untried[0].agent_id,)

    def _estimate(self, line: _Line, position: int, now: datetime) -> float | None:
        """Collects the estimator's inputs for ``line`` at ``now``."""
        mean = line.service.mean
        free_in: list[float] = []
        for a in line.agent_ids():
            record = self.board.get(a)
            if record.state in (AgentState.AVAILABLE, AgentState.RINGING):
                free_in.append(0.0)
            elif record.state is AgentState.WRAP_UP and record.wrap_up_until is not None:
                free_in.append((record.wrap_up_until - now).total_seconds())
            elif record.state is AgentState.BUSY:
                own = self._lines.get(record.queue) if record.queue is not None else None
                call_line = own or line
                talked = (now - (record.answered_at or now)).total_seconds()
                free_in.append(
                    busy_remaining(call_line.service.mean, talked) + call_line.config.wrap_up
                )
        return estimate_wait(position, free_in, mean + line.config.wrap_up)
