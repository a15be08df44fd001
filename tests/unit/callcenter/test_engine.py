from __future__ import annotations

import json

import pytest

from ivr.callcenter.agents import AgentState
from ivr.callcenter.engine import Outcome, OverflowReason, QueueEngine
from ivr.callcenter.errors import DuplicateEntry, OfferGone, UnknownEntry, UnknownQueue

from .util import OVERFLOW, at, engine_with, make_queue


def test_two_callers_one_agent_positions_two_then_one() -> None:
    engine = engine_with(make_queue(agents=("alice",)), logged_in=("alice",))
    assert engine.enqueue("c1", "support", at(0)).position == 1
    [offer] = engine.next_offers(at(0))
    assert offer.agents == ("alice",) and offer.entry_id == "c1"
    second = engine.enqueue("c2", "support", at(5))
    assert second.accepted and second.position == 2
    assert engine.next_offers(at(5)) == []  # alice is ringing: never two calls
    before = engine.estimated_wait("c2", at(5))
    answered = engine.agent_answered(offer, "alice", at(8))
    assert (answered.outcome, answered.agent, answered.wait) == (Outcome.ANSWERED, "alice", 8)
    assert engine.position("c2") == 1
    # at the answer instant the estimate holds (alice was already counted as serving c1)...
    assert engine.estimated_wait("c2", at(8)) == before == 125  # T 120 + wrap-up 5
    # ... and falls as her call goes on
    assert engine.estimated_wait("c2", at(38)) == 95


def test_estimate_falls_when_an_entry_ahead_leaves() -> None:
    engine = engine_with(make_queue(agents=("alice",)), logged_in=("alice",))
    engine.enqueue("c1", "support", at(0))
    [offer] = engine.next_offers(at(0))
    engine.agent_answered(offer, "alice", at(0))
    engine.enqueue("c2", "support", at(1))
    engine.enqueue("c3", "support", at(2))
    before = engine.estimated_wait("c3", at(2))
    engine.leave("c2", at(2))
    after = engine.estimated_wait("c3", at(2))
    assert before is not None and after is not None and after < before


def test_fifo_with_callback_entries() -> None:
    engine = engine_with(make_queue(), logged_in=("alice",))
    engine.board.pause("alice", at(0), "meeting")  # nobody takes calls; line builds up
    engine.enqueue("early", "support", at(0))
    cb = engine.enqueue("cb", "support", at(5), "callback")
    engine.enqueue("late", "support", at(10))
    assert cb.position == 2
    assert [engine.position(e) for e in ("early", "cb", "late")] == [1, 2, 3]
    # a callback keeping the place of a call that arrived at t=3
    kept = engine.enqueue("cb-kept", "support", at(12), "callback", since=at(3))
    assert kept.position == 2
    assert engine.position("cb") == 3 and engine.position("late") == 4
    engine.leave("early", at(20))
    engine.board.unpause("alice", at(20))
    [offer] = engine.next_offers(at(20))
    assert offer.entry_id == "cb-kept" and offer.entry.kind == "callback"


def test_same_enqueue_time_ties_by_sequence() -> None:
    engine = engine_with(make_queue(), logged_in=("alice",))
    engine.board.pause("alice", at(0))
    for name in ("a", "b", "c"):
        engine.enqueue(name, "support", at(1))
    assert [engine.position(n) for n in "abc"] == [1, 2, 3]


def test_longest_idle_picks_the_agent_idle_longest() -> None:
    q = make_queue(agents=("alice", "bob", "carol"))
    engine = engine_with(q)
    engine.board.login("bob", at(0))
    engine.board.login("carol", at(5))
    engine.board.login("alice", at(10))
    engine.enqueue("c1", "support", at(20))
    engine.enqueue("c2", "support", at(21))
    first, second = engine.next_offers(at(21))
    assert (first.entry_id, first.agents) == ("c1", ("bob",))
    assert (second.entry_id, second.agents) == ("c2", ("carol",))


def test_equal_idle_time_ties_by_config_order() -> None:
    engine = engine_with(make_queue(agents=("zed", "amy")), logged_in=("amy", "zed"))
    engine.enqueue("c1", "support", at(1))
    [offer] = engine.next_offers(at(1))
    assert offer.agents == ("zed",)


def test_ring_timeout_goes_to_next_agent_then_round_restarts() -> None:
    engine = engine_with(make_queue(), logged_in=("alice", "bob"))  # alice idle longer (tie)
    engine.enqueue("c1", "support", at(0))
    [o1] = engine.next_offers(at(0))
    assert o1.agents == ("alice",) and o1.round == 1 and o1.deadline == at(15)
    assert engine.offer_timed_out(o1, "alice", at(15))
    assert engine.board.state("alice") is AgentState.AVAILABLE
    [o2] = engine.next_offers(at(15))
    assert o2.agents == ("bob",) and o2.round == 1
    assert engine.offer_timed_out(o2, "bob", at(30))
    [o3] = engine.next_offers(at(30))
    assert o3.agents == ("alice",) and o3.round == 2
    assert o3.offer_id != o1.offer_id


def test_timed_out_agent_waits_for_an_untried_busy_agent() -> None:
    engine = engine_with(make_queue(), logged_in=("alice", "bob"))
    engine.enqueue("c0", "support", at(0))
    [o0] = engine.next_offers(at(0))
    engine.agent_answered(o0, "alice", at(1))  # alice busy with c0
    engine.enqueue("c1", "support", at(2))
    [o1] = engine.next_offers(at(2))
    assert o1.agents == ("bob",)
    engine.offer_timed_out(o1, "bob", at(17))
    assert engine.next_offers(at(17)) == []  # bob tried; alice not yet: wait for her
    engine.call_ended("alice", at(40), service_time=39)
    engine.tick(at(45))
    [o2] = engine.next_offers(at(45))
    assert o2.agents == ("alice",)


def test_ring_all_offers_everyone_and_releases_the_others() -> None:
    q = make_queue(agents=("alice", "bob", "carol"), strategy="ring-all")
    engine = engine_with(q, logged_in=("alice", "bob"))
    engine.enqueue("c1", "support", at(0))
    engine.enqueue("c2", "support", at(1))
    [offer] = engine.next_offers(at(1))  # everyone available rings for the head
    assert offer.entry_id == "c1" and set(offer.agents) == {"alice", "bob"}
    assert all(engine.board.state(a) is AgentState.RINGING for a in offer.agents)
    done = engine.agent_answered(offer, "bob", at(4))
    assert done.agent == "bob" and done.released == ("alice",)
    assert engine.board.state("alice") is AgentState.AVAILABLE
    assert engine.board.state("bob") is AgentState.BUSY
    with pytest.raises(OfferGone):
        engine.agent_answered(offer, "alice", at(5))
    [next_offer] = engine.next_offers(at(5))
    assert (next_offer.entry_id, next_offer.agents) == ("c2", ("alice",))


def test_ring_all_rings_again_after_everyone_timed_out() -> None:
    engine = engine_with(make_queue(strategy="ring-all"), logged_in=("alice", "bob"))
    engine.enqueue("c1", "support", at(0))
    [offer] = engine.next_offers(at(0))
    engine.offer_timed_out(offer, "alice", at(15))
    assert engine.next_offers(at(15)) == []  # c1 still ringing bob; nobody else waits
    engine.offer_timed_out(offer, "bob", at(15))
    [again] = engine.next_offers(at(15))
    assert set(again.agents) == {"alice", "bob"}


def test_wrap_up_blocks_offers_until_due() -> None:
    engine = engine_with(make_queue(agents=("alice",), wrap_up=10), logged_in=("alice",))
    engine.enqueue("c1", "support", at(0))
    [offer] = engine.next_offers(at(0))
    engine.agent_answered(offer, "alice", at(2))
    engine.enqueue("c2", "support", at(3))
    agent = engine.call_ended("alice", at(62))
    assert agent.state is AgentState.WRAP_UP
    assert engine.next_offers(at(62)) == []
    engine.tick(at(71))
    assert engine.next_offers(at(71)) == []
    [woken] = engine.tick(at(72))
    assert woken.agent_id == "alice"
    [offer2] = engine.next_offers(at(72))
    assert offer2.entry_id == "c2"


def test_max_length_overflow_counts_live_callers_only() -> None:
    engine = engine_with(make_queue(max_length=2), logged_in=("alice",))
    engine.board.pause("alice", at(0))
    assert engine.enqueue("c1", "support", at(0)).accepted
    assert engine.enqueue("cb", "support", at(1), "callback").accepted
    assert engine.enqueue("c2", "support", at(2)).accepted
    refused = engine.enqueue("c3", "support", at(3))
    assert not refused.accepted
    assert (refused.overflow, refused.target) == (OverflowReason.MAX_LENGTH, OVERFLOW)
    assert not engine.is_waiting("c3")
    assert engine.enqueue("cb2", "support", at(4), "callback").position == 4


def test_no_agents_logged_in_overflows_at_once() -> None:
    engine = engine_with(make_queue())
    refused = engine.enqueue("c1", "support", at(0))
    assert refused.overflow is OverflowReason.NO_AGENTS
    engine.board.login("alice", at(1))
    engine.board.pause("alice", at(1))  # paused still counts as logged in
    assert engine.enqueue("c2", "support", at(2)).accepted
    assert engine.enqueue("cb", "support", at(2), "callback").accepted


def test_max_wait_overflow() -> None:
    engine = engine_with(make_queue(max_wait=60), logged_in=("alice",))
    engine.board.pause("alice", at(0))
    engine.enqueue("c1", "support", at(0))
    engine.enqueue("cb", "support", at(0), "callback")
    engine.enqueue("c2", "support", at(30))
    assert engine.expired(at(59)) == []
    [gone] = engine.expired(at(60))
    assert gone.entry.entry_id == "c1" and gone.outcome is Outcome.OVERFLOW
    assert (gone.reason, gone.target, gone.wait) == (OverflowReason.MAX_WAIT, OVERFLOW, 60)
    assert engine.position("cb") == 1  # callbacks never expire
    assert [d.entry.entry_id for d in engine.expired(at(100))] == ["c2"]
    assert engine.stats("support", at(100)).overflowed == 2


def test_a_ringing_entry_does_not_expire_until_the_ring_ends() -> None:
    engine = engine_with(make_queue(max_wait=10), logged_in=("alice",))
    engine.enqueue("c1", "support", at(0))
    [offer] = engine.next_offers(at(0))
    assert engine.expired(at(12)) == []
    engine.offer_timed_out(offer, "alice", at(15))
    assert [d.entry.entry_id for d in engine.expired(at(15))] == ["c1"]


def test_abandon_records_wait_and_releases_a_ringing_agent() -> None:
    engine = engine_with(make_queue(agents=("alice",)), logged_in=("alice",))
    engine.enqueue("c1", "support", at(0))
    engine.enqueue("c2", "support", at(3))
    [offer] = engine.next_offers(at(3))
    gone = engine.leave("c2", at(20))
    assert (gone.outcome, gone.wait, gone.released) == (Outcome.ABANDONED, 17, ())
    gone = engine.leave("c1", at(21))
    assert (gone.wait, gone.released) == (21, ("alice",))
    assert engine.board.state("alice") is AgentState.AVAILABLE
    assert not engine.offer_timed_out(offer, "alice", at(22))  # stale report: no-op
    with pytest.raises(UnknownEntry):
        engine.leave("c1", at(23))
    assert engine.stats("support", at(23)).abandoned == 2


def test_estimate_shrinks_as_the_queue_moves_and_follows_service_times() -> None:
    engine = engine_with(make_queue(agents=("alice",), wrap_up=0), logged_in=("alice",))
    engine.enqueue("c0", "support", at(0))
    [o0] = engine.next_offers(at(0))
    engine.agent_answered(o0, "alice", at(1))
    for i in range(1, 4):
        engine.enqueue(f"c{i}", "support", at(i))
    # alice has talked 4 s of the default 120
    assert [engine.estimated_wait(f"c{i}", at(5)) for i in (1, 2, 3)] == [116, 236, 356]
    engine.call_ended("alice", at(61), service_time=60)  # T = 60 now
    [o1] = engine.next_offers(at(61))
    # c1 is ringing alice (free); c2 needs alice after c1, c3 after c2
    assert [engine.estimated_wait(f"c{i}", at(61)) for i in (1, 2, 3)] == [0, 60, 120]
    engine.agent_answered(o1, "alice", at(62))
    assert [engine.estimated_wait(f"c{i}", at(62)) for i in (2, 3)] == [60, 120]
    assert [engine.estimated_wait(f"c{i}", at(92)) for i in (2, 3)] == [30, 90]
    engine.call_ended("alice", at(242))  # service time defaults to answer..end: 180 s
    assert engine.stats("support", at(242)).mean_service_time == 120
    engine.board.pause("alice", at(243))
    assert engine.estimated_wait("c2", at(243)) is None


def test_agent_in_two_queues_goes_to_the_longest_waiting_caller() -> None:
    sales = make_queue("sales", agents=("alice",))
    support = make_queue("support", agents=("alice", "bob"))
    engine = engine_with(sales, support, logged_in=("alice",))
    engine.enqueue("s1", "support", at(0))
    engine.enqueue("x1", "sales", at(1))
    engine.board.pause("alice", at(1))
    engine.board.unpause("alice", at(2))
    [offer] = engine.next_offers(at(3))
    assert offer.entry_id == "s1"
    assert engine.stats("sales", at(3)).agents[AgentState.RINGING] == 1


def test_convert_to_callback_keeps_the_place() -> None:
    engine = engine_with(make_queue(agents=("alice",)), logged_in=("alice",))
    engine.enqueue("c1", "support", at(0))
    engine.enqueue("c2", "support", at(1))
    engine.next_offers(at(1))
    assert engine.convert_to_callback("c1", at(5)) == ("alice",)
    assert engine.entry("c1").kind == "callback" and engine.position("c1") == 1
    [offer] = engine.next_offers(at(5))
    assert offer.entry_id == "c1" and offer.entry.kind == "callback"


def test_overdue_offers_after_grace() -> None:
    engine = engine_with(make_queue(ring_timeout=10), logged_in=("alice",))
    engine.enqueue("c1", "support", at(0))
    [offer] = engine.next_offers(at(0))
    assert engine.overdue_offers(at(14), grace=5) == []
    assert engine.overdue_offers(at(15), grace=5) == [(offer, "alice")]


def test_errors() -> None:
    engine = engine_with(make_queue(), logged_in=("alice",))
    with pytest.raises(UnknownQueue):
        engine.enqueue("c1", "nope", at(0))
    engine.enqueue("c1", "support", at(0))
    with pytest.raises(DuplicateEntry):
        engine.enqueue("c1", "support", at(0))
    with pytest.raises(UnknownEntry):
        engine.position("zz")
    with pytest.raises(ValueError):
        engine.leave("c1", at(1), Outcome.ANSWERED)


def test_removed_queue_is_retired_until_empty() -> None:
    engine = engine_with(make_queue(), make_queue("sales"), logged_in=("alice",))
    engine.board.pause("alice", at(0))
    engine.enqueue("c1", "support", at(0))
    engine.set_queues({"sales": make_queue("sales")})
    assert engine.queue_names == ["sales"]
    with pytest.raises(UnknownQueue):
        engine.enqueue("c2", "support", at(1))
    assert engine.position("c1") == 1
    engine.leave("c1", at(2))
    with pytest.raises(UnknownQueue):
        engine.stats("support", at(2))


def test_stats() -> None:
    engine = engine_with(make_queue(agents=("alice", "bob", "carol")), logged_in=("alice", "bob"))
    engine.board.pause("bob", at(0))
    engine.enqueue("c1", "support", at(0))
    engine.enqueue("cb", "support", at(10), "callback")
    engine.next_offers(at(10))
    s = engine.stats("support", at(30))
    assert (s.waiting, s.live, s.callbacks, s.offered, s.longest_wait) == (2, 1, 1, 1, 30)
    assert s.agents[AgentState.RINGING] == 1
    assert s.agents[AgentState.PAUSED] == 1
    assert s.agents[AgentState.LOGGED_OUT] == 1


def test_engine_snapshot_restore_keeps_agents_and_service_times() -> None:
    queues = {"support": make_queue(agents=("alice", "bob"), wrap_up=0)}
    engine = QueueEngine(queues)
    engine.board.login("alice", at(0))
    engine.board.login("bob", at(0))
    engine.board.pause("bob", at(1), "lunch")
    engine.enqueue("c1", "support", at(2))
    [offer] = engine.next_offers(at(2))
    engine.agent_answered(offer, "alice", at(3))
    engine.call_ended("alice", at(93))
    engine.enqueue("c2", "support", at(94))
    engine.next_offers(at(94))  # alice ringing at the "crash"
    data = json.loads(json.dumps(engine.snapshot()))
    assert data["queues"]["support"]["entries"][0]["ringing"] == ["alice"]
    restored = QueueEngine.restore(queues, data, at(200))
    assert restored.board.get("alice").state is AgentState.AVAILABLE
    assert restored.board.get("bob").pause_reason == "lunch"
    assert restored.stats("support", at(200)).mean_service_time == 90
    assert not restored.is_waiting("c2")
