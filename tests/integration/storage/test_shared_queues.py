"""Shared queues (issue 19) on a real Postgres: two ``SharedQueueCoordinator``s, as two nodes'
controllers, on one database. Arrival order is kept across them, an agent is never offered
two entries at once under concurrent changes, and a dead coordinator's entries leave within
its lease."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.callcenter.coordinator import Answered, Offered, Ticket
from ivr.callcenter.engine import Outcome, QueueEngine
from ivr.callcenter.errors import QueueError
from ivr.callcenter.shared import SharedQueueCoordinator
from ivr.config import Settings
from ivr.flowdefs.model import Queue, Strategy, Target
from storage.db import make_engine, session_factory
from storage.repositories.shared_queues import SharedQueueRows
from storage.scratch import create_database, drop_database

pytestmark = pytest.mark.integration

Q = "t/q"


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def queue(agents: tuple[str, ...], strategy: Strategy = "longest-idle") -> Queue:
    return Queue(
        name="q",
        agents=agents,
        strategy=strategy,
        ring_timeout=15.0,
        wrap_up=0.0,
        max_wait=600.0,
        max_length=100,
        overflow=Target("hangup", "goodbye"),
        announce_interval=30.0,
    )


@dataclass
class Node:
    coord: SharedQueueCoordinator
    db: AsyncEngine
    tickets: dict[str, Ticket] = field(default_factory=dict)


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Settings]:
    scratch = await create_database(settings, prefix="linja_tq")
    try:
        yield scratch
    finally:
        await drop_database(scratch)


@pytest.fixture
async def nodes(database: Settings) -> AsyncIterator[tuple[FakeClock, list[Node]]]:
    clock = FakeClock()
    made: list[Node] = []
    for name in ("node-a", "node-b"):
        db = make_engine(database, pool_size=4)  # its own pool: truly concurrent transactions
        coord = SharedQueueCoordinator(
            QueueEngine({}), clock, SharedQueueRows(session_factory(db)), name, lease=5.0
        )
        made.append(Node(coord, db))
    try:
        yield clock, made
    finally:
        for node in made:
            await node.coord.flush_agents()
            await node.db.dispose()


def configure(nodes: list[Node], q: Queue) -> None:
    for node in nodes:
        node.coord.set_queues({Q: q})


def offers_of(ticket: Ticket) -> list[Offered]:
    """The Offered events waiting on the ticket (taken)."""
    found: list[Offered] = []
    while ticket._events:
        event = ticket._events.popleft()
        if isinstance(event, Offered):
            found.append(event)
    return found


async def test_arrival_order_kept_across_two_coordinators(
    nodes: tuple[FakeClock, list[Node]],
) -> None:
    clock, (a, b) = nodes
    configure([a, b], queue(("agent1",)))
    a.coord.login("agent1")
    await a.coord.flush_agents()
    holders: dict[str, Node] = {}
    for i in range(6):  # arrivals alternate between the nodes, 1 s apart
        node = (a, b)[i % 2]
        entry = f"e{i}"
        node.tickets[entry] = await node.coord.enter(entry, Q)
        holders[entry] = node
        clock.advance(1.0)
    served: list[str] = []
    for _ in range(6):
        for node in (a, b):
            await node.coord.sync()
        offered = [
            (entry, o)
            for entry, node in holders.items()
            if entry not in served
            for o in offers_of(node.tickets[entry])
        ]
        assert len(offered) == 1, f"one agent, one offer at a time: {offered}"
        entry, event = offered[0]
        assert event.offer.agents == ("agent1",)
        node = holders[entry]
        departure = await node.tickets[entry].take("agent1")
        assert departure.outcome is Outcome.ANSWERED
        assert any(isinstance(e, Answered) for e in node.tickets[entry]._events)
        served.append(entry)
        clock.advance(2.0)
        node.coord.call_ended("agent1", 2.0)
        await node.coord.flush_agents()
    assert served == [f"e{i}" for i in range(6)]


async def test_agent_never_offered_two_entries_under_concurrent_changes(
    nodes: tuple[FakeClock, list[Node]],
) -> None:
    clock, (a, b) = nodes
    agents = ("agent1", "agent2", "agent3")
    configure([a, b], queue(agents, "ring-all"))
    for agent in agents:
        a.coord.login(agent)
    await a.coord.flush_agents()
    rng = random.Random(19)
    ringing: dict[str, str] = {}  # agent -> entry it was offered and not yet settled
    busy: set[str] = set()
    violations: list[str] = []
    counter = 0
    seen = {"offered": 0, "taken": 0}

    def collect() -> None:
        for node in (a, b):
            for entry, ticket in node.tickets.items():
                for event in offers_of(ticket):
                    seen["offered"] += 1
                    for agent in event.offer.agents:
                        held = ringing.get(agent)
                        if (held is not None and held != entry) or agent in busy:
                            violations.append(f"{agent} offered {entry} while on {held}")
                        ringing[agent] = entry

    async def step(node: Node) -> None:
        nonlocal counter
        choice = rng.random()
        live = [e for e, t in node.tickets.items() if not t.done]
        if choice < 0.35 or not live:
            counter += 1
            entry = f"{node.coord.controller}-{counter}"
            node.tickets[entry] = await node.coord.enter(entry, Q)
        elif choice < 0.5:
            entry = rng.choice(live)
            node.tickets[entry].leave()  # the caller hangs up: its rings end
            for agent in [ag for ag, e in ringing.items() if e == entry]:
                del ringing[agent]
        else:
            entry = rng.choice(live)
            ticket = node.tickets[entry]
            offer = ticket.offer
            rung = [ag for ag, e in ringing.items() if e == entry]
            if offer is None or not rung:
                return
            agent = rng.choice(rung)
            if choice < 0.8:
                try:
                    await ticket.take(agent)
                except QueueError:
                    return
                for other in offer.agents:
                    ringing.pop(other, None)
                seen["taken"] += 1
                busy.add(agent)
                clock.advance(0.5)
                busy.discard(agent)
                node.coord.call_ended(agent, 0.5)
            else:
                ringing.pop(agent, None)
                ticket.timed_out(agent)

    for _round in range(50):
        clock.advance(0.2)
        await asyncio.gather(*(step(rng.choice((a, b))) for _ in range(4)))
        for node in (a, b):
            await node.coord.flush_agents()
        for node in (a, b):
            await node.coord.sync()
        collect()
        async with a.db.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT ring FROM queue_waiting WHERE ring->'offer' <> 'null'")
                )
            ).all()
        rung_in_db = [agent for (ring,) in rows for agent in ring["ringing"]]
        assert len(rung_in_db) == len(set(rung_in_db)), f"round {_round}: {rung_in_db}"
    assert violations == []
    # the rounds did enqueue, offer and answer entries on both nodes
    assert counter > 20 and seen["offered"] > 20 and seen["taken"] > 5, (counter, seen)


async def test_dead_coordinators_entries_leave_within_the_lease(
    nodes: tuple[FakeClock, list[Node]],
) -> None:
    clock, (a, b) = nodes
    configure([a, b], queue(("agent1",)))
    b.coord.login("agent1")
    await b.coord.flush_agents()
    doomed = await a.coord.enter("on-a", Q)  # node a's entry, rung first ...
    assert [o.offer.agents for o in offers_of(doomed)] == [("agent1",)]
    clock.advance(1.0)
    waiting = await b.coord.enter("on-b", Q)  # ... then node a dies (no more ticks)
    await b.coord._transact(b.coord._tick)
    assert offers_of(waiting) == []  # still within a's lease: the agent rings for a's caller
    clock.advance(4.5)  # 5.5 s after a's last write: its lease (5 s) lapsed
    await b.coord._transact(b.coord._tick)
    assert not b.coord.engine.is_waiting(doomed.entry_id)
    assert [o.offer.agents for o in offers_of(waiting)] == [("agent1",)]
    await a.coord.sync()  # a comes back: its entry is gone and its ticket closed
    assert doomed.done


async def test_same_channel_id_on_two_nodes_is_two_entries(
    nodes: tuple[FakeClock, list[Node]],
) -> None:
    """Nodes number their channels alike (epoch.counter): live entries are told apart by
    their controller; a callback entry is one, whichever controller queues it."""
    _clock, (a, b) = nodes
    configure([a, b], queue(("agent1",)))
    a.coord.login("agent1")
    await a.coord.flush_agents()
    first = await a.coord.enter("1796169888.2", Q)
    second = await b.coord.enter("1796169888.2", Q)
    assert first.accepted and second.accepted and first.entry_id != second.entry_id
    await a.coord.enter("cb-1", Q, kind="callback")
    with pytest.raises(QueueError):
        await b.coord.enter("cb-1", Q, kind="callback")
