from __future__ import annotations

from itertools import pairwise

import pytest

from ivr.callcenter.estimator import ServiceTimes, busy_remaining, estimate_wait


def test_default_until_history_then_rolling_mean() -> None:
    times = ServiceTimes(window=3, default=120)
    assert times.mean == 120
    for s in (60, 90, 30):
        times.record(s)
    assert times.mean == 60
    times.record(300)  # 60 drops out of the window
    assert times.mean == 140
    assert times.values() == [90, 30, 300]
    assert ServiceTimes(history=[0, 0], default=50).mean == 50


def test_formula() -> None:
    assert estimate_wait(1, [0], 100) == 0
    assert estimate_wait(2, [0], 100) == 100
    assert estimate_wait(1, [80], 100) == 80
    assert estimate_wait(3, [80], 100) == 280
    # two agents, one free, one busy for 30 s more: 0, 30, 100, 130, 200, ...
    assert [estimate_wait(p, [0, 30], 100) for p in range(1, 6)] == [0, 30, 100, 130, 200]
    assert estimate_wait(1, [], 100) is None
    with pytest.raises(ValueError):
        estimate_wait(0, [0], 100)


def test_all_free_agents_serve_in_waves() -> None:
    assert [estimate_wait(p, [0, 0, 0], 60) for p in range(1, 8)] == [0, 0, 0, 60, 60, 60, 120]


def test_shrinks_as_position_drops_and_as_calls_go_on() -> None:
    waits = [estimate_wait(p, [50, 70, 90], 100) for p in range(9, 0, -1)]
    assert all(a is not None and b is not None and a > b for a, b in pairwise(waits))
    later = [estimate_wait(p, [40, 60, 80], 100) for p in range(9, 0, -1)]
    assert all(a is not None and b is not None and b < a for a, b in zip(waits, later, strict=True))


def test_busy_remaining_never_promises_zero() -> None:
    assert busy_remaining(120, 20) == 100
    assert busy_remaining(120, 500) == 12


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        ServiceTimes(window=0)
    with pytest.raises(ValueError):
        ServiceTimes(default=0)
