"""``QueueEngine.saved_entries`` / ``load_entries``: what shared queues keep in Postgres puts
an engine of another controller in the same state (order, rings, rounds)."""

from __future__ import annotations

from ivr.callcenter.agents import AgentBoard
from ivr.callcenter.engine import QueueEngine
from tests.unit.callcenter.util import at, engine_with, make_queue


def test_another_engine_loaded_from_saved_entries_serves_in_the_same_order() -> None:
    q = make_queue(agents=("alice", "bob"))
    first = engine_with(q, logged_in=("alice",))
    for i, entry in enumerate(("c", "a", "b")):
        first.enqueue(entry, "support", at(i))
    first.enqueue("cb", "support", at(5), "callback", since=at(-1))  # keeps an older place
    (offer,) = first.next_offers(at(6))
    assert offer.entry_id == "cb" and offer.agents == ("alice",)
    saved = first.saved_entries()

    other = QueueEngine({"support": q})
    other.load_entries(saved, AgentBoard(list(first.board)))
    assert [other.position(e) for e in ("cb", "c", "a", "b")] == [1, 2, 3, 4]
    assert other.current_offer("cb") == offer
    assert other.saved_entries() == saved
    other.offer_timed_out(offer, "alice", at(20))  # the ring goes on in the other engine
    other.board.login("bob", at(20))
    offers = {o.entry_id: o.agents for o in other.next_offers(at(21))}
    assert offers == {"cb": ("bob",), "c": ("alice",)}  # alice tried cb this round
    other.enqueue("d", "support", at(22))
    assert other.entry("d").seq > max(s.entry.seq for s in saved)


def test_loading_replaces_entries_and_board() -> None:
    q = make_queue()
    engine = engine_with(q, logged_in=("alice",))
    engine.enqueue("old", "support", at(0))
    engine.load_entries([], AgentBoard())
    assert not engine.is_waiting("old")
    assert not engine.board.get("alice").logged_in
