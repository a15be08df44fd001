from __future__ import annotations

import json

import pytest

from ivr.callcenter.agents import Agent, AgentBoard, AgentState
from ivr.callcenter.errors import IllegalTransition

from .util import at


def offer(board: AgentBoard, agent: str, t: float, entry: str = "e1") -> Agent:
    return board.offer(agent, at(t), offer_id=f"{entry}/1", entry_id=entry, queue="support")


def test_login_offer_answer_end_wrap_up_tick() -> None:
    board = AgentBoard()
    assert board.state("alice") is AgentState.LOGGED_OUT
    assert board.login("alice", at(0)).state is AgentState.AVAILABLE
    assert offer(board, "alice", 10).state is AgentState.RINGING
    busy = board.answer("alice", at(12))
    assert (busy.state, busy.entry_id, busy.calls) == (AgentState.BUSY, "e1", 1)
    wrap = board.end_call("alice", at(100), wrap_up=5)
    assert wrap.state is AgentState.WRAP_UP and wrap.wrap_up_until == at(105)
    assert board.tick(at(104)) == []
    [done] = board.tick(at(106))
    assert done.state is AgentState.AVAILABLE and done.idle_since == at(105)


@pytest.mark.parametrize("state", ["ringing", "busy", "paused", "logged_out", "wrap_up"])
def test_only_an_available_agent_can_be_offered_a_call(state: str) -> None:
    board = AgentBoard()
    if state != "logged_out":
        board.login("alice", at(0))
    if state in ("ringing", "busy", "wrap_up"):
        offer(board, "alice", 1)
    if state in ("busy", "wrap_up"):
        board.answer("alice", at(2))
    if state == "wrap_up":
        board.end_call("alice", at(3), wrap_up=10)
    if state == "paused":
        board.pause("alice", at(1), "lunch")
    assert board.state("alice") == state
    with pytest.raises(IllegalTransition) as err:
        offer(board, "alice", 5, entry="e2")
    assert err.value.agent == "alice" and err.value.state == state


def test_illegal_transitions_raise() -> None:
    board = AgentBoard()
    with pytest.raises(IllegalTransition):
        board.pause("alice", at(0))
    with pytest.raises(IllegalTransition):
        board.unpause("alice", at(0))
    board.login("alice", at(0))
    for action in (board.answer, board.release):
        with pytest.raises(IllegalTransition):
            action("alice", at(1))
    with pytest.raises(IllegalTransition):
        board.end_call("alice", at(1), 5)


def test_ring_timeout_keeps_idle_since() -> None:
    board = AgentBoard()
    board.login("alice", at(0))
    offer(board, "alice", 10)
    released = board.release("alice", at(25))
    assert released.state is AgentState.AVAILABLE and released.idle_since == at(0)


def test_pause_and_unpause() -> None:
    board = AgentBoard()
    board.login("alice", at(0))
    paused = board.pause("alice", at(5), "lunch")
    assert (paused.state, paused.pause_reason) == (AgentState.PAUSED, "lunch")
    back = board.unpause("alice", at(60))
    assert back.state is AgentState.AVAILABLE and back.idle_since == at(60)
    assert back.pause_reason is None


def test_pause_and_logout_while_on_a_call_take_effect_when_it_ends() -> None:
    board = AgentBoard()
    board.login("alice", at(0))
    offer(board, "alice", 1)
    board.answer("alice", at(2))
    pending = board.pause("alice", at(3), "break")
    assert pending.state is AgentState.BUSY and pending.pending == "pause"
    after = board.end_call("alice", at(50), wrap_up=5)
    assert (after.state, after.pause_reason) == (AgentState.PAUSED, "break")

    board.login("bob", at(0))
    offer(board, "bob", 1, entry="e2")
    board.logout("bob", at(2))
    assert board.state("bob") is AgentState.RINGING
    assert board.release("bob", at(16)).state is AgentState.LOGGED_OUT


def test_unpause_cancels_a_pending_pause() -> None:
    board = AgentBoard()
    board.login("alice", at(0))
    offer(board, "alice", 1)
    board.pause("alice", at(2), "x")
    assert board.unpause("alice", at(3)).pending is None
    assert board.release("alice", at(4)).state is AgentState.AVAILABLE


def test_wrap_up_zero_is_available_at_once() -> None:
    board = AgentBoard()
    board.login("alice", at(0))
    offer(board, "alice", 1)
    board.answer("alice", at(2))
    a = board.end_call("alice", at(30), wrap_up=0)
    assert a.state is AgentState.AVAILABLE and a.idle_since == at(30)


def test_snapshot_restore_round_trip_through_json() -> None:
    board = AgentBoard()
    board.login("alice", at(0))
    board.login("bob", at(1))
    board.pause("bob", at(2), "training")
    board.login("carol", at(3))
    offer(board, "carol", 4)
    board.answer("carol", at(5))
    board.end_call("carol", at(60), wrap_up=30)
    board.login("dave", at(0))
    board.logout("dave", at(9))
    records = json.loads(json.dumps(board.snapshot()))
    restored = AgentBoard.restore(records, at(70))
    assert list(restored) == list(board)
    assert restored.get("bob").pause_reason == "training"
    assert restored.get("carol").wrap_up_until == at(90)
    assert restored.drain_changes() == []
    [done] = restored.tick(at(90))
    assert done.agent_id == "carol"


def test_restore_frees_ringing_and_busy_unless_still_busy() -> None:
    board = AgentBoard()
    for name in ("ann", "ben", "cat"):
        board.login(name, at(0))
    offer(board, "ann", 1, entry="e1")
    offer(board, "ben", 1, entry="e2")
    offer(board, "cat", 1, entry="e3")
    board.answer("ben", at(2))
    board.answer("cat", at(2))
    board.pause("cat", at(3), "after this call")
    restored = AgentBoard.restore(board.snapshot(), at(100), still_busy={"ben"})
    assert restored.get("ann").state is AgentState.AVAILABLE
    assert restored.get("ann").idle_since == at(0)
    assert restored.get("ben").state is AgentState.BUSY
    assert restored.get("cat").state is AgentState.PAUSED


def test_from_dict_rejects_bad_records() -> None:
    with pytest.raises(ValueError):
        Agent.from_dict({"agent_id": "a", "state": "dancing"})
    with pytest.raises(ValueError):
        Agent.from_dict({"state": "available"})
    with pytest.raises(ValueError):
        Agent.from_dict({"agent_id": "a", "state": "available", "since": 5})


def test_drain_changes_lists_changed_agents_once() -> None:
    board = AgentBoard()
    board.login("bob", at(0))
    board.login("alice", at(0))
    assert [a.agent_id for a in board.drain_changes()] == ["alice", "bob"]
    assert board.drain_changes() == []
    board.mark_changed(["alice", "nobody"])
    assert [a.agent_id for a in board.drain_changes()] == ["alice"]
