"""Backoff after failed logins, on a fake clock: free failures, doubling, cap, forgetting."""

from __future__ import annotations

from ivr.http.backoff import Backoff, retry_after


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_backoff_doubles_after_the_free_failures_up_to_the_cap() -> None:
    clock = Clock()
    b = Backoff(base=1.0, cap=8.0, free=2, clock=clock)
    assert [b.failed("x") for _ in range(2)] == [0.0, 0.0]
    assert b.wait("x") == 0.0
    delays = []
    for _ in range(6):
        delays.append(b.failed("x"))
        assert b.wait("x") == delays[-1]
        clock.now += delays[-1]  # wait it out, then fail again
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    clock.now -= 3.0
    assert b.wait("x") == 3.0
    assert b.wait("y") == 0.0  # keys are separate


def test_backoff_success_clears_and_old_failures_are_forgotten() -> None:
    clock = Clock()
    b = Backoff(base=10.0, cap=60.0, free=0, forget=120.0, clock=clock)
    assert b.failed("x") == 10.0
    b.succeeded("x")
    assert b.wait("x") == 0.0 and len(b) == 0
    b.failed("y")
    b.failed("y")
    clock.now += 120.0
    assert b.wait("y") == 0.0 and len(b) == 0  # forgotten, not kept for ever
    assert b.failed("y") == 10.0  # counts from one again


def test_backoff_keeps_a_bounded_number_of_keys() -> None:
    b = Backoff(free=0, size=3, clock=Clock())
    for key in ("a", "b", "c", "d", "e"):
        b.failed(key)
    assert len(b) == 3
    assert b.wait("a") == 0.0 and b.wait("b") == 0.0  # the oldest went first
    assert b.wait("e") > 0.0


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert retry_after(0.01) == "1"
    assert retry_after(2.1) == "3"
    assert retry_after(30) == "30"
