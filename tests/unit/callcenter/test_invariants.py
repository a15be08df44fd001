"""Property-style: random event sequences (fixed seeds) never break the engine's invariants,
above all that an agent never gets two calls."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from ivr.callcenter.agents import AgentState
from ivr.callcenter.engine import EntryKind, Offer, QueueEngine
from ivr.callcenter.errors import IllegalTransition, OfferGone

from .util import at, make_queue

AGENTS = ("a1", "a2", "a3", "a4")


def check(engine: QueueEngine, on_call: set[str]) -> None:
    snap = engine.snapshot()
    ringing = Counter(
        agent for q in snap["queues"].values() for e in q["entries"] for agent in e["ringing"]
    )
    assert all(n == 1 for n in ringing.values()), f"agent rung for two entries: {ringing}"
    for agent in AGENTS:
        record = engine.board.get(agent)
        assert (record.state is AgentState.RINGING) == (agent in ringing), agent
        assert (record.state is AgentState.BUSY) == (agent in on_call), agent
        assert not (agent in ringing and agent in on_call)
    for name, q in snap["queues"].items():
        entries = q["entries"]
        keys = [e["enqueued_at"] for e in entries]
        assert keys == sorted(keys), f"{name} not in arrival order"
        for position, e in enumerate(entries, start=1):
            assert engine.position(e["entry_id"]) == position
            assert set(e["ringing"]) <= set(engine.config(name).agents)
            if engine.config(name).strategy == "longest-idle":
                assert len(e["ringing"]) <= 1


@pytest.mark.parametrize("seed", range(40))
def test_random_event_sequences_keep_the_invariants(seed: int) -> None:
    rnd = random.Random(seed)
    queues = {
        "q1": make_queue("q1", agents=("a1", "a2", "a3"), strategy="longest-idle", max_wait=300),
        "q2": make_queue("q2", agents=("a2", "a3", "a4"), strategy="ring-all", max_length=4),
    }
    engine = QueueEngine(queues)
    on_call: set[str] = set()
    offers: list[Offer] = []
    live: list[str] = []
    t = 0.0
    n = 0
    for _ in range(400):
        t += rnd.choice((0, 0, 1, 3, 10, 40))
        now = at(t)
        op = rnd.randrange(11)
        if op == 0:
            n += 1
            kind: EntryKind = "callback" if rnd.random() < 0.2 else "live"
            result = engine.enqueue(f"e{n}", rnd.choice(("q1", "q2")), now, kind)
            if result.accepted:
                live.append(f"e{n}")
        elif op == 1 and live:
            entry = rnd.choice(live)
            if engine.is_waiting(entry):
                engine.leave(entry, now)
        elif op in (2, 3):
            offers.extend(engine.next_offers(now))
        elif op == 4 and offers:
            offer = rnd.choice(offers)
            engine.offer_timed_out(offer, rnd.choice(offer.agents), now)
        elif op == 5 and offers:
            offer = rnd.choice(offers)
            agent = rnd.choice(offer.agents)
            was_busy = agent in on_call
            try:
                engine.agent_answered(offer, agent, now)
            except OfferGone:
                pass
            else:
                assert not was_busy, "a busy agent answered a second call"
                on_call.add(agent)
        elif op == 6 and on_call:
            agent = rnd.choice(sorted(on_call))
            engine.call_ended(agent, now, service_time=rnd.uniform(10, 300))
            on_call.discard(agent)
        elif op == 7:
            agent = rnd.choice(AGENTS)
            action = rnd.choice(("login", "logout", "pause", "unpause"))
            try:
                getattr(engine.board, action)(agent, now)
            except IllegalTransition:
                assert engine.board.state(agent) is AgentState.LOGGED_OUT
        elif op == 8:
            engine.tick(now)
        elif op == 9:
            engine.expired(now)
        elif op == 10 and live:
            entry = rnd.choice(live)
            if engine.is_waiting(entry):
                engine.convert_to_callback(entry, now)
        # illegal on purpose: offering a call to an agent that is not available
        agent = rnd.choice(AGENTS)
        if engine.board.state(agent) is not AgentState.AVAILABLE:
            with pytest.raises(IllegalTransition):
                engine.board.offer(agent, now, offer_id="x/1", entry_id="x", queue="q1")
        check(engine, on_call)
