"""Shared queues: one queue order, one set of offers and agent states for every controller.

With several Asterisk nodes (a controller each) the queues live in Postgres, and
``SharedQueueCoordinator`` is the coordinator each controller uses instead of the in-memory
one. Every change (enqueue, leave, answer, ring timeout, agent login/pause/call end, the
periodic tick) is one transaction under one advisory lock: load every waiting entry and every
agent row, put them into a working ``QueueEngine`` (``load_entries``), apply the change, then
``expired`` and ``next_offers`` (oldest entry first, whichever controller holds it), write the
result back and ``NOTIFY``. So callers are served strictly by arrival time across nodes
(callback entries keep their place: ``since=``), and an agent is offered one entry at a time
whichever node rings it (the engine's rule, and the database's: ``queue_rings`` has the agent
as primary key, and agent rows are written only at the version read).

Every controller ``LISTEN``s; on a notification (and on every tick) it reads the state into
its *mirror* engine (``self.engine``: positions, estimates, the wallboard, the agent list) and
turns it into its own tickets' events: ``Offered`` when an offer for one of its entries
appears (it rings the agent through Kamailio), ``PositionChanged``, ``Overflow`` when another
controller timed its entry out (``queue_departures``), ``Answered``.

Each entry row names its controller and a lease, renewed by that controller's tick; an entry
whose lease lapsed (its controller died or lost Postgres) is taken out by the next
transaction of any controller, its rings released: a dead controller blocks the queue for at
most ``lease`` + one tick.

The API is the in-memory coordinator's. ``enter``, ``waiting`` and ``Ticket.take`` wait for
their transaction (the flow needs its result); the other changes (``leave``, ``timed_out``,
``call_ended``, agent login/pause) answer at once from the mirror and are written in order by
a background task (``flush_agents`` waits for them; a failed write is retried a few times,
then logged).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from ivr.callcenter.agents import Agent, AgentBoard, AgentState
from ivr.callcenter.coordinator import (
    Answered,
    Offered,
    OfferWithdrawn,
    Overflow,
    PositionChanged,
    QueueCoordinator,
    QueueEvent,
    Ticket,
    board_action,
)
from ivr.callcenter.engine import (
    Departure,
    EnqueueResult,
    Entry,
    EntryKind,
    Offer,
    Outcome,
    OverflowReason,
    QueueEngine,
    SavedEntry,
)
from ivr.callcenter.errors import CallCenterError, UnknownEntry
from ivr.clock import Clock
from ivr.flowdefs.model import Queue

__all__ = ["SharedQueueCoordinator", "SharedRows"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Change = Callable[[QueueEngine, datetime], T]


class SharedState(Protocol):
    @property
    def entries(self) -> list[dict[str, Any]]: ...
    @property
    def agents(self) -> list[dict[str, Any]]: ...
    @property
    def holders(self) -> dict[str, str]: ...  # agent -> the controller that wrote its row
    @property
    def down(self) -> frozenset[str]: ...  # controllers down by their heartbeats


class SharedTx(Protocol):
    @property
    def state(self) -> SharedState: ...

    async def write(
        self,
        *,
        controller: str,
        entries: Sequence[Mapping[str, Any]],
        removed: Sequence[str],
        rings: Sequence[tuple[str, str, str]],
        agents: Sequence[Mapping[str, Any]],
        departures: Sequence[Mapping[str, Any]],
        notify: str,
    ) -> None: ...


class SharedRows(Protocol):
    """``storage.repositories.shared_queues.SharedQueueRows``."""

    def locked(self) -> AbstractAsyncContextManager[SharedTx]: ...

    async def read(self) -> SharedState: ...

    async def take_departures(self, controller: str) -> list[dict[str, Any]]: ...


Listen = Callable[[Callable[[str], None]], Coroutine[Any, Any, None]]


# -- rows <-> engine ---------------------------------------------------------------------------


def _offer_json(offer: Offer | None) -> dict[str, Any] | None:
    if offer is None:
        return None
    return {
        "offer_id": offer.offer_id,
        "agents": list(offer.agents),
        "made_at": offer.made_at.isoformat(),
        "ring_timeout": offer.ring_timeout,
        "round": offer.round,
    }


def _saved(row: Mapping[str, Any]) -> SavedEntry:
    entry = Entry(row["entry_id"], row["queue"], row["kind"], row["enqueued_at"], int(row["seq"]))
    ring = row["ring"]
    raw = ring.get("offer")
    offer = None
    if raw is not None:
        offer = Offer(
            raw["offer_id"],
            entry,
            tuple(raw["agents"]),
            datetime.fromisoformat(raw["made_at"]),
            float(raw["ring_timeout"]),
            int(raw["round"]),
        )
    return SavedEntry(
        entry,
        offer,
        tuple(ring.get("ringing", ())),
        tuple(ring.get("tried", ())),
        int(ring.get("rounds", 1)),
        int(ring.get("offers", 0)),
    )


def _row(saved: SavedEntry, controller: str, lease_until: datetime) -> dict[str, Any]:
    e = saved.entry
    return {
        "entry_id": e.entry_id,
        "queue": e.queue,
        "kind": e.kind,
        "enqueued_at": e.enqueued_at,
        "seq": e.seq,
        "controller": controller,
        "lease_until": lease_until,
        "ring": {
            "offer": _offer_json(saved.offer),
            "ringing": list(saved.ringing),
            "tried": list(saved.tried),
            "rounds": saved.rounds,
            "offers": saved.offers,
        },
    }


def _consistent(saved: SavedEntry, board: AgentBoard) -> SavedEntry:
    """The entry without rings its agents' rows do not show (a row changed by hand, or by a
    controller of another version): such a ring is over."""
    offer = saved.offer
    if offer is None:
        return saved
    ringing = tuple(
        a
        for a in saved.ringing
        if board.state(a) is AgentState.RINGING and board.get(a).offer_id == offer.offer_id
    )
    if ringing == saved.ringing:
        return saved
    log.warning(
        "entry %s: rings of %s not shown by their agents, ended",
        saved.entry.entry_id,
        ", ".join(sorted(set(saved.ringing) - set(ringing))),
    )
    return replace(saved, offer=offer if ringing else None, ringing=ringing)


def _board(records: Sequence[Mapping[str, Any]]) -> AgentBoard:
    return AgentBoard(Agent.from_dict(r) for r in records)


class _Loaded:
    """What a transaction read: who holds each entry, its lease, each agent row's version."""

    def __init__(self, state: SharedState) -> None:
        self.owners = {str(r["entry_id"]): str(r["controller"]) for r in state.entries}
        self.leases: dict[str, datetime] = {
            str(r["entry_id"]): r["lease_until"] for r in state.entries
        }
        self.versions: dict[str, int] = {
            str(a["agent_id"]): int(a["version"]) for a in state.agents
        }


class SharedQueueCoordinator(QueueCoordinator):
    def __init__(
        self,
        engine: QueueEngine,
        clock: Clock,
        rows: SharedRows,
        controller: str,
        *,
        tick_interval: float = 1.0,
        offer_grace: float = 5.0,
        lease: float = 10.0,
        listen: Listen | None = None,
        retries: int = 3,
        retry_delay: float = 1.0,
    ) -> None:
        super().__init__(engine, clock, tick_interval=tick_interval, offer_grace=offer_grace)
        self.controller = controller
        self._rows = rows
        self._lease = lease
        self._listen = listen
        self._retries = retries
        self._retry_delay = retry_delay
        self._work = QueueEngine({})  # the transactions' engine; self.engine is the mirror
        self._serial = asyncio.Lock()  # one transaction or sync of this controller at a time
        self._pending: set[asyncio.Task[None]] = set()
        self._sync_wanted = asyncio.Event()
        self._gone: dict[str, Departure] = {}  # entries that left in the running transaction
        self._withdrawn: list[tuple[Offer, str]] = []  # overdue rings the tick withdrew

    def set_queues(self, queues: Mapping[str, Queue]) -> None:
        self.engine.set_queues(queues)
        self._work.set_queues(queues)

    # -- entries -----------------------------------------------------------------------------

    def join(
        self,
        entry_id: str,
        queue: str,
        *,
        kind: EntryKind = "live",
        since: datetime | None = None,
    ) -> Ticket:
        raise TypeError("shared queues: use `await enter(...)` (or `waiting`), not join")

    async def enter(
        self,
        entry_id: str,
        queue: str,
        *,
        kind: EntryKind = "live",
        since: datetime | None = None,
    ) -> Ticket:
        if kind == "live":
            # a channel id is unique on its node only (nodes number channels alike): the
            # live entry is named by its controller too; callback entries keep their id, so
            # two controllers cannot queue the same request twice
            entry_id = f"{self.controller}|{entry_id}"

        def change(engine: QueueEngine, now: datetime) -> EnqueueResult:
            return engine.enqueue(entry_id, queue, now, kind, since=since)

        tickets: list[Ticket] = []

        def made(result: EnqueueResult) -> None:
            ticket = Ticket(self, result)
            tickets.append(ticket)
            if result.overflow is None:
                self._tickets[entry_id] = ticket  # before the events of this transaction
                return
            ticket._deliver(Overflow(result.overflow, result.target))
            ticket._close(
                Departure(
                    result.entry,
                    Outcome.OVERFLOW,
                    result.entry.enqueued_at,
                    0.0,
                    reason=result.overflow,
                    target=result.target,
                )
            )

        await self._transact(change, before_events=made)
        return tickets[0]

    def leave(self, entry_id: str, reason: Outcome = Outcome.ABANDONED) -> Departure:
        """Closes the ticket at once; the entry leaves the shared queue in the background."""
        now = self.now()
        ticket = self._tickets.get(entry_id)
        if ticket is None:
            raise UnknownEntry(entry_id)
        entry = ticket.result.entry
        released = ticket.offer.agents if ticket.offer is not None else ()
        departure = Departure(entry, reason, now, entry.waited(now), released=released)
        self._finish(departure, None)

        def change(engine: QueueEngine, at: datetime) -> None:
            if engine.is_waiting(entry_id):
                self._gone[entry_id] = engine.leave(entry_id, at, reason)

        self._later(f"entry {entry_id} leaves", change)
        return departure

    def convert_to_callback(self, entry_id: str) -> tuple[str, ...]:
        ticket = self._tickets.get(entry_id)
        if ticket is not None:
            ticket.kind = "callback"
        self._later(
            f"entry {entry_id} to callback", lambda e, now: e.convert_to_callback(entry_id, now)
        )
        return ()

    # -- agent side --------------------------------------------------------------------------

    def answered(self, offer: Offer, agent: str) -> Departure:
        raise TypeError("shared queues: use `await ticket.take(agent)`, not answered")

    async def take(self, offer: Offer, agent: str) -> Departure:
        def change(engine: QueueEngine, now: datetime) -> Departure:
            departure = engine.agent_answered(offer, agent, now)
            self._gone[offer.entry_id] = departure
            return departure

        return await self._transact(change)

    def timed_out(self, offer: Offer, agent: str) -> bool:
        self._later(
            f"ring of {agent} for {offer.entry_id} timed out",
            lambda e, now: e.offer_timed_out(offer, agent, now),
        )
        return True

    def call_ended(self, agent: str, service_time: float | None = None) -> Agent:
        self._later(
            f"agent {agent}: call ended", lambda e, now: e.call_ended(agent, now, service_time)
        )
        return self.engine.board.get(agent)

    def login(self, agent: str) -> Agent:
        return self._agent_later(agent, "login", lambda b, now: b.login(agent, now))

    def logout(self, agent: str) -> Agent:
        return self._agent_later(agent, "logout", lambda b, now: b.logout(agent, now))

    def pause(self, agent: str, reason: str = "") -> Agent:
        return self._agent_later(agent, "pause", lambda b, now: b.pause(agent, now, reason))

    def unpause(self, agent: str) -> Agent:
        return self._agent_later(agent, "unpause", lambda b, now: b.unpause(agent, now))

    async def agent_action(self, agent: str, action: str, reason: str = "") -> Agent:
        def change(engine: QueueEngine, now: datetime) -> Agent:
            return board_action(engine.board, agent, action, reason, now)

        return await self._transact(change)

    # -- time --------------------------------------------------------------------------------

    def tick(self) -> None:
        self._later("tick", self._tick)

    async def run(self) -> None:
        """Ticks (renewing this controller's leases), listens, syncs; cancel to stop."""
        async with asyncio.TaskGroup() as tasks:
            if self._listen is not None:
                tasks.create_task(self._listen(self._poke))
            tasks.create_task(self._syncing())
            while True:
                await asyncio.sleep(self._tick_interval)
                try:
                    await self._transact(self._tick)
                except Exception as exc:
                    log.warning("shared queues: tick failed (%s: %s)", type(exc).__name__, exc)
                self._sync_wanted.set()  # departures left for us, missed notifications

    async def flush_agents(self) -> bool:
        """Waits for the changes still being written."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
        return True

    async def sync(self) -> None:
        """Reads the shared state into the mirror and delivers this controller's events."""
        async with self._serial:
            state = await self._rows.read()
            now = self.now()
            self.engine.load_entries([_saved(r) for r in state.entries], _board(state.agents))
            await self._settle_missing(now, always=True)
            self._events(now)
        self._changed()

    async def _settle_missing(self, now: datetime, *, always: bool = False) -> None:
        """Tickets whose entries the mirror no longer holds: how they left (departures other
        controllers wrote), or, with none, as cancelled (their lease lapsed)."""
        missing = [t for t in self._tickets.values() if not self.engine.is_waiting(t.entry_id)]
        if not missing and not always:
            return
        for record in await self._rows.take_departures(self.controller):
            self._departed_elsewhere(record)
        for ticket in missing:
            if ticket.done:
                continue
            log.warning(
                "queue %s: entry %s left the shared queue unseen (lease lapsed?)",
                ticket.queue,
                ticket.entry_id,
            )
            entry = ticket.result.entry
            self._finish(Departure(entry, Outcome.CANCELLED, now, entry.waited(now)), None)

    # -- the transaction ---------------------------------------------------------------------

    async def _transact(
        self,
        change: Change[T],
        *,
        before_events: Callable[[T], None] | None = None,
    ) -> T:
        async with self._serial:
            self._gone, self._withdrawn = {}, []
            async with self._rows.locked() as tx:
                now = self.now()
                loaded = self._load(tx.state, now)
                result = change(self._work, now)
                for departure in self._work.expired(now):
                    self._gone[departure.entry.entry_id] = departure
                offers = self._work.next_offers(now)
                await self._write(tx, loaded, now)
            gone, withdrawn = self._gone, self._withdrawn
            self.engine.load_entries(self._work.saved_entries(), AgentBoard(list(self._work.board)))
            if before_events is not None:
                before_events(result)
            for entry_id, departure in gone.items():
                if loaded.owners.get(entry_id, self.controller) == self.controller:
                    self._finish(departure, _departure_event(departure))
            for offer, agent in withdrawn:
                ticket = self._tickets.get(offer.entry_id)
                if ticket is not None:
                    ticket._deliver(OfferWithdrawn(offer, (agent,)))
            await self._settle_missing(now)
            if offers:
                log.info(
                    "shared queues: %s offered %s",
                    self.controller,
                    ", ".join(f"{o.entry_id} to {'+'.join(o.agents)}" for o in offers),
                )
            self._events(now)
        self._changed()
        return result

    def _load(self, state: SharedState, now: datetime) -> _Loaded:
        loaded = _Loaded(state)
        work = self._work
        board = _board(state.agents)
        work.load_entries([_consistent(_saved(r), board) for r in state.entries], board)
        ringing = {
            (agent, s.offer.offer_id)
            for s in work.saved_entries()
            if s.offer is not None
            for agent in s.ringing
        }
        for agent in list(work.board):
            if (
                agent.state is AgentState.RINGING
                and (agent.agent_id, agent.offer_id) not in ringing
            ):
                log.warning(
                    "agent %s: rings for no waiting entry (%s), released",
                    agent.agent_id,
                    agent.offer_id,
                )
                work.board.release(agent.agent_id, now)
        for agent in list(work.board):
            holder = state.holders.get(agent.agent_id)
            if (
                agent.state is AgentState.BUSY
                and holder in state.down
                and holder != self.controller
            ):
                # The controller that bridged the call is gone, and the call with it.
                log.warning(
                    "agent %s: busy on controller %s, which is down; call ended",
                    agent.agent_id,
                    holder,
                )
                work.call_ended(agent.agent_id, now)
        for entry_id, owner in loaded.owners.items():
            if (
                owner != self.controller
                and loaded.leases[entry_id] < now
                and work.is_waiting(entry_id)
            ):
                log.warning(
                    "entry %s: lease of controller %s lapsed %s ago, taken out of the queue",
                    entry_id,
                    owner,
                    now - loaded.leases[entry_id],
                )
                self._gone[entry_id] = work.leave(entry_id, now, Outcome.CANCELLED)
        return loaded

    async def _write(self, tx: SharedTx, loaded: _Loaded, now: datetime) -> None:
        mine = now + timedelta(seconds=self._lease)
        saved = self._work.saved_entries()
        rows = []
        for s in saved:
            owner = loaded.owners.get(s.entry.entry_id, self.controller)
            lease = mine if owner == self.controller else loaded.leases[s.entry.entry_id]
            rows.append(_row(s, owner, lease))
        departures = [
            {
                "entry_id": entry_id,
                "controller": loaded.owners[entry_id],
                "departure": _departure_json(d),
                "at": now,
            }
            for entry_id, d in self._gone.items()
            if loaded.owners.get(entry_id, self.controller) != self.controller
        ]
        agents = [
            {**a.to_dict(), "version": loaded.versions.get(a.agent_id)}
            for a in self._work.board.drain_changes()
        ]
        await tx.write(
            controller=self.controller,
            entries=rows,
            removed=[e for e in self._gone if e in loaded.owners],
            rings=[
                (agent, s.entry.entry_id, s.offer.offer_id)
                for s in saved
                if s.offer is not None
                for agent in s.ringing
            ],
            agents=agents,
            departures=departures,
            notify=self.controller,
        )

    def _tick(self, engine: QueueEngine, now: datetime) -> None:
        engine.tick(now)
        for offer, agent in engine.overdue_offers(now, self._grace):
            log.warning(
                "queue %s: entry %s: ring of %s unreported %gs past its timeout, withdrawn",
                offer.entry.queue,
                offer.entry_id,
                agent,
                self._grace,
            )
            engine.offer_timed_out(offer, agent, now)
            self._withdrawn.append((offer, agent))

    # -- events ------------------------------------------------------------------------------

    def _events(self, now: datetime) -> None:
        """Offers and positions of this controller's tickets, from the mirror."""
        for ticket in list(self._tickets.values()):
            if not self.engine.is_waiting(ticket.entry_id):
                continue
            offer = self.engine.current_offer(ticket.entry_id)
            if offer is not None and offer.offer_id != ticket._offered:
                ticket._offered = offer.offer_id
                ticket._deliver(Offered(offer))
        self._positions(now)

    def _positions(self, now: datetime) -> None:
        for ticket in self._tickets.values():
            if not self.engine.is_waiting(ticket.entry_id):
                continue
            position = self.engine.position(ticket.entry_id)
            if position != ticket._last_position:
                ticket._last_position = position
                ticket._deliver(
                    PositionChanged(position, self.engine.estimated_wait(ticket.entry_id, now))
                )

    def _departed_elsewhere(self, record: Mapping[str, Any]) -> None:
        ticket = self._tickets.get(str(record["entry_id"]))
        if ticket is None:
            return
        reason = OverflowReason(record["reason"]) if record.get("reason") else None
        target = None
        if reason is OverflowReason.MAX_WAIT:
            target = self.engine.config(ticket.queue).timeout_target
        departure = Departure(
            ticket.result.entry,
            Outcome(record["outcome"]),
            datetime.fromisoformat(record["at"]),
            float(record["wait"]),
            agent=record.get("agent"),
            reason=reason,
            target=target,
        )
        log.info(
            "queue %s: entry %s left by another controller: %s",
            ticket.queue,
            ticket.entry_id,
            departure.outcome,
        )
        self._finish(departure, _departure_event(departure))

    # -- background writes -------------------------------------------------------------------

    def _later(self, what: str, change: Change[Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._apply(what, change))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _apply(self, what: str, change: Change[Any]) -> None:
        for attempt in range(1, self._retries + 1):
            try:
                await self._transact(change)
                return
            except CallCenterError as exc:
                log.info("shared queues: %s: nothing to do (%s)", what, exc)
                return
            except Exception as exc:
                log.warning(
                    "shared queues: %s failed (attempt %d of %d: %s)",
                    what,
                    attempt,
                    self._retries,
                    type(exc).__name__,
                )
                await asyncio.sleep(self._retry_delay)

    def _agent_later(
        self, agent: str, what: str, change: Callable[[AgentBoard, datetime], Agent]
    ) -> Agent:
        """The change on a copy of the mirror's record (raises as the engine would), then
        written in the background."""
        record = change(AgentBoard([self.engine.board.get(agent)]), self.now())
        self._later(f"agent {agent}: {what}", lambda e, now: change(e.board, now))
        return record

    def _poke(self, payload: str) -> None:
        if payload != self.controller:
            self._sync_wanted.set()

    async def _syncing(self) -> None:
        while True:
            await self._sync_wanted.wait()
            self._sync_wanted.clear()
            try:
                await self.sync()
            except Exception as exc:
                log.warning("shared queues: sync failed (%s: %s)", type(exc).__name__, exc)
                await asyncio.sleep(self._retry_delay)


def _departure_event(departure: Departure) -> QueueEvent | None:
    if departure.outcome is Outcome.ANSWERED:
        return Answered(departure)
    if departure.outcome is Outcome.OVERFLOW and departure.reason is not None:
        return Overflow(departure.reason, departure.target)
    return None


def _departure_json(departure: Departure) -> dict[str, Any]:
    return {
        "outcome": departure.outcome.value,
        "at": departure.at.isoformat(),
        "wait": departure.wait,
        "agent": departure.agent,
        "reason": departure.reason.value if departure.reason is not None else None,
    }
