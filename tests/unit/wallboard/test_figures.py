"""The wallboard's figures: service level, average speed of answer, the tenant's day, agent
states as the wallboard names them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ivr.wallboard.figures import (
    BoardInput,
    QueueInput,
    Waiting,
    agent_view,
    board,
    day_start,
    today,
)
from storage.repositories.wallboard import CallbackCounts, QueueDay

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_day_starts_at_midnight_in_the_tenants_zone() -> None:
    # 23:30 UTC on 1 Dec is 01:30 on 2 Dec in Helsinki (UTC+2): its day began at 22:00 UTC.
    late = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
    assert day_start(late, "Europe/Helsinki") == datetime(2026, 12, 1, 22, 0, tzinfo=UTC)
    assert day_start(late, "UTC") == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    # summer time: midnight is 21:00 UTC
    summer = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert day_start(summer, "Europe/Helsinki") == datetime(2026, 6, 30, 21, 0, tzinfo=UTC)


def test_service_level_leaves_out_short_abandons_and_callback_choices() -> None:
    day = QueueDay(
        "sales",
        offered=10,
        closed=10,
        answered=5,
        answered_in_threshold=4,
        abandoned=3,
        abandoned_short=2,
        overflowed=1,
        callbacks=1,
        answered_wait=50.0,
    )
    figures = today([day])
    # base: 10 left the queue - 2 short abandons - 1 callback = 7; 4 of 7 in threshold
    assert figures["service_level"] == round(400 / 7, 1)
    assert figures["asa"] == 10.0
    assert figures["offered"] == 10 and figures["abandoned_short"] == 2


def test_no_calls_no_service_level_nor_asa() -> None:
    figures = today([QueueDay("q")])
    assert figures["service_level"] is None and figures["asa"] is None


def test_tenant_totals_add_the_queues_up() -> None:
    a = QueueDay("a", offered=2, closed=2, answered=2, answered_in_threshold=2, answered_wait=4)
    b = QueueDay("b", offered=2, closed=2, answered=1, answered_in_threshold=0, abandoned=1,
                 answered_wait=30)  # fmt: skip
    figures = today([a, b])
    assert figures["service_level"] == 50.0  # 2 of 4
    assert figures["asa"] == round(34 / 3, 1)


def test_agent_states_as_the_wallboard_names_them() -> None:
    busy = {"agent_id": "a", "state": "busy", "since": T0.isoformat(), "queue": "demo/sales",
            "entry_id": "chan-1", "pause_reason": None}  # fmt: skip
    assert agent_view(busy) == {
        "state": "talking", "since": T0.isoformat(), "reason": None, "queue": "sales",
        "call": "chan-1",
    }  # fmt: skip
    paused = {"agent_id": "a", "state": "paused", "since": T0, "pause_reason": "lounas"}
    assert agent_view(paused)["reason"] == "lounas"
    assert agent_view(None)["state"] == "logged_out"


def test_the_board_of_a_tenant() -> None:
    waiting = (Waiting("c2", T0 + timedelta(seconds=5), False), Waiting("c1", T0, True))
    doc = board(
        BoardInput(
            tenant="demo", name="Demo", language="fi", time_zone="Europe/Helsinki",
            day_start=T0, queues=(
                QueueInput("sales", 20.0, ("a1", "a2"), QueueDay("sales", offered=3),
                           CallbackCounts("sales", 2, 1), waiting),
                QueueInput("support", 30.0, ("a2",), QueueDay("support"),
                           CallbackCounts("support")),
            ),
            agents={"a1": {"agent_id": "a1", "state": "available", "since": T0}},
        )
    )  # fmt: skip
    sales = doc["queues"]["sales"]
    assert sales["longest_since"] == T0.isoformat()
    assert [w["id"] for w in sales["waiting"]] == ["c2", "c1"]
    assert sales["by_state"]["available"] == 1 and sales["by_state"]["logged_out"] == 1
    assert doc["totals"]["waiting"] == 2
    assert doc["totals"]["by_state"]["logged_out"] == 1  # a2 counted once for the tenant
    assert doc["totals"]["callbacks"] == {"pending": 2, "due": 1}
    assert doc["queues"]["support"]["threshold"] == 30.0


def test_the_day_resets_at_local_midnight_when_summer_time_ends() -> None:
    """25 October 2026 in Helsinki has 25 hours: today began at 21:00 UTC the day before
    (summer time) and tomorrow begins at 22:00 UTC."""
    assert day_start(datetime(2026, 10, 25, 21, 59, 59, tzinfo=UTC), "Europe/Helsinki") == (
        datetime(2026, 10, 24, 21, 0, tzinfo=UTC)
    )
    assert day_start(datetime(2026, 10, 25, 22, 0, tzinfo=UTC), "Europe/Helsinki") == (
        datetime(2026, 10, 25, 22, 0, tzinfo=UTC)
    )
