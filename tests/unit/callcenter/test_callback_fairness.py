"""Callbacks keep the caller's place: scripted arrivals of live callers and callback requests
with one agent are served in arrival order, and positions count the callbacks."""

from __future__ import annotations

from ivr.callcenter.engine import Outcome, QueueEngine

from .util import T0, at, engine_with, make_queue

Q = "support"


def _serve_all(engine: QueueEngine, start: float, talk: float = 10.0) -> list[str]:
    """The one agent takes every offer in turn; returns the entries in the order served."""
    served: list[str] = []
    now = start
    while True:
        offers = engine.next_offers(at(now))
        if not offers:
            return served
        (offer,) = offers
        engine.agent_answered(offer, offer.agents[0], at(now + 1))
        served.append(offer.entry_id)
        now += 1 + talk
        engine.call_ended(offer.agents[0], at(now))
        now += 1  # past the zero wrap-up
        engine.tick(at(now))


def test_live_callers_and_callbacks_are_served_in_arrival_order() -> None:
    engine = engine_with(make_queue(Q, agents=("alice",), wrap_up=0), logged_in=("alice",))
    engine.board.pause("alice", T0)
    engine.enqueue("L1", Q, at(0))
    engine.enqueue("L2", Q, at(1))
    engine.enqueue("L3", Q, at(2))
    engine.enqueue("L4", Q, at(3))
    # L3 presses 1 at t=5: leaves the line; the request (place t=2) is queued by the dialer
    # only once it is in the database, at t=7 -- it still goes back where L3 stood.
    engine.leave("L3", at(5), Outcome.CANCELLED)
    engine.enqueue("L6", Q, at(6))
    engine.enqueue("CB3", Q, at(7), "callback", since=at(2))
    # A request left from the menu at t=4 (no queue place of its own: the request time).
    engine.enqueue("CB5", Q, at(8), "callback", since=at(4))

    assert [engine.position(e) for e in ("L1", "L2", "CB3", "L4", "CB5", "L6")] == [
        1,
        2,
        3,
        4,
        5,
        6,
    ]
    stats = engine.stats(Q, at(8))
    assert (stats.live, stats.callbacks) == (4, 2)

    engine.board.unpause("alice", at(10))
    assert _serve_all(engine, 10) == ["L1", "L2", "CB3", "L4", "CB5", "L6"]


def test_a_retried_callback_comes_back_at_its_place() -> None:
    engine = engine_with(make_queue(Q, agents=("alice",), wrap_up=0), logged_in=("alice",))
    engine.board.pause("alice", T0)
    engine.enqueue("CB1", Q, at(0), "callback", since=at(0))
    engine.enqueue("L2", Q, at(1))
    engine.board.unpause("alice", at(2))
    (offer,) = engine.next_offers(at(2))
    assert offer.entry_id == "CB1"
    engine.agent_answered(offer, "alice", at(3))
    engine.call_ended("alice", at(8))  # the customer was busy: retry later
    engine.tick(at(9))
    engine.enqueue("L3", Q, at(9))
    # Due again at t=10: it is put back at its original place, ahead of L2 and L3 ...
    engine.board.pause("alice", at(9))
    engine.enqueue("CB1", Q, at(10), "callback", since=at(0))
    assert engine.position("CB1") == 1 and engine.position("L3") == 3
    engine.board.unpause("alice", at(11))
    assert _serve_all(engine, 11) == ["CB1", "L2", "L3"]


def test_a_callback_never_overtakes_earlier_callers_nor_falls_behind_later_ones() -> None:
    engine = engine_with(make_queue(Q, agents=("alice",), wrap_up=0), logged_in=("alice",))
    engine.board.pause("alice", T0)
    for i in range(5):
        engine.enqueue(f"L{i}", Q, at(i * 10))
    engine.enqueue("CB", Q, at(60), "callback", since=at(25))  # between L2 and L3
    # Position announcements of the live callers behind it count it.
    assert engine.position("L3") == 5 and engine.position("L4") == 6
    assert engine.position("CB") == 4
    engine.board.unpause("alice", at(61))
    assert _serve_all(engine, 61) == ["L0", "L1", "L2", "CB", "L3", "L4"]


def test_callback_entries_are_never_refused_or_expired() -> None:
    engine = engine_with(make_queue(Q, agents=("alice",), max_length=1, max_wait=30))
    # Nobody logged in: a live caller overflows, a callback keeps its place.
    assert not engine.enqueue("L1", Q, at(0)).accepted
    assert engine.enqueue("CB", Q, at(0), "callback", since=at(0)).accepted
    assert engine.expired(at(3600)) == []
    assert engine.is_waiting("CB")
