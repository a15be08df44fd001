from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from ivr.callcenter.agents import AgentState
from ivr.callcenter.coordinator import (
    Answered,
    Offered,
    OfferWithdrawn,
    Overflow,
    PositionChanged,
    QueueCoordinator,
    QueueEvent,
    Ticket,
)
from ivr.callcenter.engine import Outcome, OverflowReason, QueueEngine
from ivr.callcenter.errors import OfferGone, TicketClosed
from ivr.flowdefs.model import Queue

from .util import OVERFLOW, FakeClock, make_queue


def coordinator_for(*queues: Queue, clock: FakeClock, **kw: Any) -> QueueCoordinator:
    return QueueCoordinator(QueueEngine({q.name: q for q in queues}), clock, **kw)


async def event(ticket: Ticket) -> QueueEvent:
    got = await ticket.next_event(timeout=1)
    assert got is not None
    return got


async def test_two_callers_one_agent_hear_position_two_then_one() -> None:
    clock = FakeClock()
    coord = coordinator_for(make_queue(agents=("alice",)), clock=clock)
    coord.login("alice")
    t1 = coord.join("c1", "support")
    offered = await event(t1)
    assert isinstance(offered, Offered) and offered.offer.agents == ("alice",)
    clock.advance(2)
    t2 = coord.join("c2", "support")
    assert t2.result.position == 2
    status = t2.status()
    assert status is not None and status.position == 2
    assert await t2.next_event(timeout=0.01) is None  # nothing happens: announce time
    clock.advance(3)
    departure = t1.answered("alice")
    assert departure.wait == 5 and departure.agent == "alice"
    assert isinstance(await event(t1), Answered)
    moved = await event(t2)
    assert isinstance(moved, PositionChanged) and moved.position == 1
    assert moved.estimated_wait == 125  # default T 120 + wrap-up 5; alice just answered
    with pytest.raises(TicketClosed):
        await t1.next_event(timeout=1)


async def test_a_waiting_flow_wakes_when_an_agent_logs_in() -> None:
    clock = FakeClock()
    coord = coordinator_for(make_queue(), clock=clock)
    coord.login("alice")
    coord.pause("alice", "coffee")
    async with coord.waiting("c1", "support") as ticket:
        waiter = asyncio.create_task(ticket.next_event(timeout=5))
        await asyncio.sleep(0)
        assert not waiter.done()
        coord.login("bob")
        got = await asyncio.wait_for(waiter, 1)
        assert isinstance(got, Offered) and got.offer.agents == ("bob",)
        ticket.answered("bob")


async def test_leaving_the_block_while_queued_is_abandoned_with_wait() -> None:
    clock = FakeClock()
    coord = coordinator_for(make_queue(agents=("alice",)), clock=clock)
    coord.login("alice")
    with pytest.raises(RuntimeError):
        async with coord.waiting("c1", "support") as ticket:
            assert isinstance(await event(ticket), Offered)
            clock.advance(7)
            raise RuntimeError("caller hung up")
    assert ticket.departure is not None
    assert (ticket.departure.outcome, ticket.departure.wait) == (Outcome.ABANDONED, 7)
    assert ticket.departure.released == ("alice",)
    assert coord.engine.board.state("alice") is AgentState.AVAILABLE
    assert coord.stats("support").abandoned == 1


async def test_ring_timeout_reported_by_the_flow_rings_the_next_agent() -> None:
    clock = FakeClock()
    coord = coordinator_for(make_queue(agents=("alice", "bob")), clock=clock)
    coord.login("alice")
    clock.advance(1)
    coord.login("bob")
    async with coord.waiting("c1", "support") as ticket:
        first = await event(ticket)
        assert isinstance(first, Offered) and first.offer.agents == ("alice",)
        clock.advance(15)
        assert ticket.timed_out("alice")
        second = await event(ticket)
        assert isinstance(second, Offered) and second.offer.agents == ("bob",)
        with pytest.raises(OfferGone):
            coord.answered(first.offer, "alice")  # alice picks up too late
        ticket.answered("bob")


async def test_backstop_withdraws_an_unreported_ring() -> None:
    clock = FakeClock()
    q = make_queue(agents=("alice", "bob"), ring_timeout=10)
    coord = coordinator_for(q, clock=clock, offer_grace=5)
    coord.login("alice")
    coord.login("bob")
    async with coord.waiting("c1", "support") as ticket:
        first = await event(ticket)
        assert isinstance(first, Offered)
        clock.advance(14)
        coord.tick()
        assert await ticket.next_event(timeout=0.01) is None
        clock.advance(1)
        coord.tick()
        withdrawn = await event(ticket)
        assert isinstance(withdrawn, OfferWithdrawn) and withdrawn.agents == ("alice",)
        second = await event(ticket)
        assert isinstance(second, Offered) and second.offer.agents == ("bob",)
        with pytest.raises(OfferGone):
            coord.answered(first.offer, "alice")


async def test_overflow_at_entry_and_after_max_wait() -> None:
    clock = FakeClock()
    coord = coordinator_for(make_queue(max_length=1, max_wait=60), clock=clock)
    refused = coord.join("c0", "support")  # nobody logged in
    assert not refused.accepted and refused.done
    assert await event(refused) == Overflow(OverflowReason.NO_AGENTS, OVERFLOW)
    with pytest.raises(TicketClosed):
        await refused.next_event(timeout=1)
    coord.login("alice")
    coord.pause("alice", "lunch")
    t1 = coord.join("c1", "support")
    full = coord.join("c2", "support")
    assert await event(full) == Overflow(OverflowReason.MAX_LENGTH, OVERFLOW)
    clock.advance(59)
    coord.tick()
    assert await t1.next_event(timeout=0.01) is None
    clock.advance(1)
    coord.tick()
    assert await event(t1) == Overflow(OverflowReason.MAX_WAIT, OVERFLOW)
    assert t1.departure is not None and t1.departure.wait == 60
    assert t1.leave() is None


async def test_ring_all_and_wrap_up_through_the_coordinator() -> None:
    clock = FakeClock()
    coord = coordinator_for(make_queue(strategy="ring-all", wrap_up=10), clock=clock)
    coord.login("alice")
    coord.login("bob")
    t1 = coord.join("c1", "support")
    t2 = coord.join("c2", "support")
    offered = await event(t1)
    assert isinstance(offered, Offered) and set(offered.offer.agents) == {"alice", "bob"}
    done = t1.answered("alice")
    assert done.released == ("bob",)
    to_bob = await event(t2)  # offers come before position news of the same moment
    assert isinstance(to_bob, Offered) and to_bob.offer.agents == ("bob",)
    assert isinstance(await event(t2), PositionChanged)
    t2.answered("bob")
    clock.advance(60)
    assert coord.call_ended("alice").state is AgentState.WRAP_UP
    t3 = coord.join("c3", "support")
    assert await t3.next_event(timeout=0.01) is None
    clock.advance(10)
    coord.tick()
    to_alice = await event(t3)
    assert isinstance(to_alice, Offered) and to_alice.offer.agents == ("alice",)


async def test_convert_to_callback_keeps_the_ticket() -> None:
    clock = FakeClock()
    coord = coordinator_for(make_queue(agents=("alice",)), clock=clock)
    coord.login("alice")
    coord.pause("alice")
    t1 = coord.join("c1", "support")
    coord.join("c2", "support")
    assert coord.convert_to_callback("c1") == ()
    assert t1.kind == "callback"
    status = t1.status()
    assert status is not None and status.position == 1


class Store:
    def __init__(self) -> None:
        self.saved: list[dict[str, Any]] = []
        self.fail = 1

    async def save_agents(self, records: Sequence[Mapping[str, Any]]) -> None:
        if self.fail:
            self.fail -= 1
            raise OSError("database down")
        self.saved.extend(dict(r) for r in records)


async def test_run_ticks_and_saves_agent_changes_with_retry() -> None:
    clock = FakeClock()
    store = Store()
    coord = coordinator_for(
        make_queue(agents=("alice",), wrap_up=5),
        clock=clock,
        tick_interval=0.01,
        store=store,
        store_retry=0.01,
    )
    runner = asyncio.create_task(coord.run())
    try:
        coord.login("alice")
        async with coord.waiting("c1", "support") as ticket:
            assert isinstance(await event(ticket), Offered)
            ticket.answered("alice")
        clock.advance(30)
        coord.call_ended("alice")
        clock.advance(5)
        for _ in range(200):  # the run loop's tick ends the wrap-up; the store catches up
            await asyncio.sleep(0.01)
            if store.saved and store.saved[-1]["state"] == "available":
                break
        assert store.saved[-1]["agent_id"] == "alice"
        assert store.saved[-1]["state"] == "available"
        assert coord.engine.board.get("alice").calls == 1
    finally:
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
    assert await coord.flush_agents()


class SlowStore:
    """A store whose first save waits until released: the Postgres write still in flight."""

    def __init__(self) -> None:
        self.saved: list[dict[str, Any]] = []
        self.release = asyncio.Event()
        self.calls = self.in_flight = self.most_in_flight = 0

    async def save_agents(self, records: Sequence[Mapping[str, Any]]) -> None:
        self.calls += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.calls == 1:
                await self.release.wait()
            self.saved.extend(dict(r) for r in records)
        finally:
            self.in_flight -= 1


async def test_a_later_change_is_saved_after_an_earlier_save_in_flight_never_under_it() -> None:
    """The background save of a wrap-up still writing while an agent action (log out) saves
    its own change: the log-out must be the last record stored, as in stop 25's ci-fresh."""
    clock = FakeClock()
    store = SlowStore()
    coord = coordinator_for(make_queue(agents=("alice",)), clock=clock, store=store)
    coord.login("alice")
    first = asyncio.create_task(coord.flush_agents())  # alice available, held in the store
    await asyncio.sleep(0)
    coord.logout("alice")
    second = asyncio.create_task(coord.flush_agents())
    await asyncio.sleep(0.01)
    store.release.set()
    assert await first and await second
    assert [r["state"] for r in store.saved] == ["available", "logged_out"]
    assert store.most_in_flight == 1
