"""The call-out's sequencing and retry policy, on a fake clock: who is called when."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ivr.callout.policy import (
    AttemptOutcome,
    CalloutStatus,
    MemberState,
    MemberView,
    Plan,
    after_attempt,
    decide,
    number_for,
)

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)


def plan(**kw: object) -> Plan:
    base = Plan(
        needed=2,
        started_at=T0,
        wait=600 * S,
        window=3600 * S,
        max_attempts=3,
        retry_delay=60 * S,
        max_parallel=10,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def members(n: int) -> list[MemberView]:
    return [
        MemberView(uuid.UUID(int=i + 1), i + 1, MemberState.PENDING, 0, None, False)
        for i in range(n)
    ]


def ids(ms: list[MemberView], *positions: int) -> tuple[uuid.UUID, ...]:
    return tuple(ms[p - 1].id for p in positions)


class Sim:
    """Members' states driven by outcomes, the way the dialer stores them."""

    def __init__(self, p: Plan, n: int, numbers: int = 1) -> None:
        self.p, self.ms, self.numbers = p, members(n), numbers

    def set(self, pos: int, **kw: object) -> None:
        self.ms[pos - 1] = replace(self.ms[pos - 1], **kw)  # type: ignore[arg-type]

    def call(self, now: datetime) -> tuple[int, ...]:
        d = decide(self.p, self.ms, now)
        for mid in d.call:
            self.set(mid.int, busy=True)
        return tuple(mid.int for mid in d.call)

    def ends(self, pos: int, outcome: AttemptOutcome, at: datetime) -> None:
        m = self.ms[pos - 1]
        state, next_at = after_attempt(self.p, outcome, m.attempts + 1, self.numbers, at)
        self.set(pos, busy=False, attempts=m.attempts + 1, state=state, next_at=next_at)


def test_enough_members_are_called_at_once_to_reach_n() -> None:
    sim = Sim(plan(needed=2), 5)
    assert sim.call(T0) == (1, 2)
    assert sim.call(T0 + S) == ()  # both in play: nobody else yet


def test_a_refusal_starts_the_next_member_a_confirmation_does_not() -> None:
    sim = Sim(plan(needed=2), 5)
    sim.call(T0)
    sim.ends(1, AttemptOutcome.CONFIRMED, T0 + 5 * S)
    assert sim.call(T0 + 5 * S) == ()  # 1 confirmed + member 2 in play = 2
    sim.ends(2, AttemptOutcome.DECLINED, T0 + 6 * S)
    assert sim.call(T0 + 6 * S) == (3,)


def test_not_reached_is_retried_on_the_next_number_at_once_then_after_the_delay() -> None:
    sim = Sim(plan(needed=1, max_attempts=4), 3, numbers=2)
    assert sim.call(T0) == (1,)
    sim.ends(1, AttemptOutcome.BUSY, T0 + 2 * S)
    assert sim.call(T0 + 2 * S) == (1,)  # second number, at once; member 2 still waits
    sim.ends(1, AttemptOutcome.NO_ANSWER, T0 + 30 * S)
    assert sim.call(T0 + 31 * S) == ()  # both numbers tried: the delay
    assert sim.call(T0 + 89 * S) == ()
    assert sim.call(T0 + 90 * S) == (1,)  # 60 s after the round ended


def test_a_final_failure_starts_the_next_member() -> None:
    sim = Sim(plan(needed=1, max_attempts=2, retry_delay=10 * S), 3)
    sim.call(T0)
    sim.ends(1, AttemptOutcome.NO_ANSWER, T0 + 30 * S)
    assert sim.ms[0].state is MemberState.PENDING
    assert sim.call(T0 + 40 * S) == (1,)
    sim.ends(1, AttemptOutcome.NO_KEY, T0 + 70 * S)
    assert sim.ms[0].state is MemberState.FAILED and sim.ms[0].attempts == 2
    assert sim.call(T0 + 70 * S) == (2,)


def test_number_for_cycles_through_the_numbers_in_order() -> None:
    nums = ("+358401", "+358402")
    assert [number_for(nums, n) for n in (1, 2, 3, 4)] == list(nums * 2)
    with pytest.raises(ValueError):
        number_for((), 1)


def test_when_the_wait_passes_everyone_left_is_called_within_the_cap() -> None:
    sim = Sim(plan(needed=2, wait=300 * S, max_parallel=3), 6)
    assert sim.call(T0) == (1, 2)
    d = decide(sim.p, sim.ms, T0 + 300 * S)
    assert [m.int for m in d.call] == [3]  # widened to all 4 left, but only 3 at once
    assert not d.escalate  # no escalation group


def test_the_escalation_group_is_added_once_when_the_wait_passes() -> None:
    p = plan(needed=2, wait=300 * S, has_escalation=True)
    sim = Sim(p, 3)
    assert decide(p, sim.ms, T0 + 299 * S).escalate is False
    assert decide(p, sim.ms, T0 + 300 * S).escalate is True
    assert decide(replace(p, escalated=True), sim.ms, T0 + 300 * S).escalate is False


def test_everyone_tried_escalates_first_then_ends_exhausted() -> None:
    p = plan(needed=2, has_escalation=True)
    ms = [replace(m, state=MemberState.DECLINED) for m in members(2)]
    assert decide(p, ms, T0 + S) == decide(p, ms, T0 + S)
    assert decide(p, ms, T0 + S).escalate is True
    assert decide(p, ms, T0 + S).done is None
    assert decide(replace(p, escalated=True), ms, T0 + S).done is CalloutStatus.EXHAUSTED


def test_n_confirmed_ends_the_call_out() -> None:
    ms = members(4)
    ms[0] = replace(ms[0], state=MemberState.CONFIRMED)
    ms[2] = replace(ms[2], state=MemberState.CONFIRMED)
    assert decide(plan(needed=2), ms, T0).done is CalloutStatus.CONFIRMED
    assert decide(plan(needed=3), ms, T0).done is None


def test_the_window_ends_it_and_no_retry_is_planned_past_it() -> None:
    p = plan(needed=1, window=100 * S, retry_delay=60 * S, max_attempts=5)
    assert decide(p, members(2), T0 + 100 * S).done is CalloutStatus.EXPIRED
    state, next_at = after_attempt(p, AttemptOutcome.BUSY, 1, 1, T0 + 50 * S)
    assert state is MemberState.FAILED and next_at is None
    state, next_at = after_attempt(p, AttemptOutcome.BUSY, 1, 1, T0 + 30 * S)
    assert state is MemberState.PENDING and next_at == T0 + 90 * S


def test_a_member_being_called_is_never_called_twice_at_once() -> None:
    sim = Sim(plan(needed=1, max_attempts=3), 2, numbers=2)
    sim.call(T0)
    sim.set(1, attempts=1)  # e.g. another controller's attempt is up (lease live)
    for t in (T0, T0 + 100 * S, T0 + 1000 * S):
        assert 1 not in sim.call(t)


def test_the_cap_counts_calls_already_up() -> None:
    sim = Sim(plan(needed=5, max_parallel=2), 6)
    assert sim.call(T0) == (1, 2)
    assert sim.call(T0 + S) == ()
    sim.ends(1, AttemptOutcome.DECLINED, T0 + 2 * S)
    assert sim.call(T0 + 2 * S) == (3,)


def test_the_scenario_of_the_sipp_test_in_order() -> None:
    """needed 2: confirms / never answers / machine / declines / busy then confirms."""
    sim = Sim(plan(needed=2, max_attempts=2, retry_delay=2 * S, max_parallel=2), 5)
    sim.numbers = 1
    t = T0
    assert sim.call(t) == (1, 2)
    sim.ends(1, AttemptOutcome.CONFIRMED, t + 8 * S)
    sim.ends(2, AttemptOutcome.NO_ANSWER, t + 10 * S)
    assert sim.call(t + 10 * S) == ()
    assert sim.call(t + 12 * S) == (2,)
    sim.ends(2, AttemptOutcome.NO_ANSWER, t + 22 * S)
    assert sim.ms[1].state is MemberState.FAILED
    assert sim.call(t + 22 * S) == (3,)
    sim.ends(3, AttemptOutcome.NO_KEY, t + 40 * S)
    assert sim.call(t + 42 * S) == (3,)
    sim.ends(3, AttemptOutcome.NO_KEY, t + 60 * S)
    assert sim.call(t + 60 * S) == (4,)
    sim.ends(4, AttemptOutcome.DECLINED, t + 70 * S)
    assert sim.call(t + 70 * S) == (5,)
    sim.ends(5, AttemptOutcome.CONFIRMED, t + 80 * S)
    assert decide(sim.p, sim.ms, t + 80 * S).done is CalloutStatus.CONFIRMED
    assert [m.attempts for m in sim.ms] == [1, 2, 2, 1, 1]
