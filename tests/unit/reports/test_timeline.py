"""A case's timeline from its stored times (:mod:`ivr.reports.timeline`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from ivr.reports.timeline import timeline
from storage.domain import CaseStepView, CaseView, QueueEntryView
from storage.events import Channel, Outcome

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def case(**kw: object) -> CaseView:
    base: dict[str, object] = dict(
        id=uuid.uuid4(), tenant_id=uuid.uuid4(), service_number="200", channel=Channel.PHONE,
        caller_name=None, caller_email=None, caller_number=None, started_at=T0,
        service_started_at=None, agent_id=None, ended_at=None, outcome=None,
        delay_before_service=None, queue_wait=None, service_time=None, total_time=None,
        restricted_at=None, personal_data_erased_at=None,
    )  # fmt: skip
    base.update(kw)
    return CaseView(**base)  # type: ignore[arg-type]


def test_an_answered_case_after_an_overflow_has_every_step_in_order() -> None:
    s = timedelta(seconds=1)
    c = case(
        queue_entries=(
            QueueEntryView(0, "sales", T0 + 3 * s, T0 + 3 * s, "overflowed", timedelta(0)),
            QueueEntryView(1, "support", T0 + 5 * s, T0 + 9 * s, "served", 4 * s),
        ),
        service_started_at=T0 + 9 * s, delay_before_service=9 * s,
        ended_at=T0 + 70 * s, outcome=Outcome.ANSWERED, total_time=70 * s,
    )  # fmt: skip
    steps = timeline(c)
    assert [(st.kind, st.queue, st.detail) for st in steps] == [
        ("entered", None, None),
        ("queued", "sales", None),
        ("left", "sales", "overflowed"),
        ("queued", "support", None),
        ("left", "support", "served"),
        ("answered", None, None),
        ("ended", None, "answered"),
    ]
    assert [st.took for st in steps if st.took is not None] == [timedelta(0), 4 * s, 9 * s, 70 * s]


def test_a_case_still_waiting_ends_with_its_open_stay() -> None:
    c = case(queue_entries=(QueueEntryView(0, "sales", T0, None, None, None),))
    assert [st.kind for st in timeline(c)] == ["entered", "queued"]


def test_menu_attempts_and_offers_take_their_place_in_time() -> None:
    s = timedelta(seconds=1)
    c = case(
        steps=(
            CaseStepView("menu", 0, T0 + 4 * s, "invalid", menu="main"),
            CaseStepView("menu", 1, T0 + 6 * s, "chosen", menu="main", choice="1",
                         option="queue:sales"),
            CaseStepView("offer", 0, T0 + 6 * s, "timeout", T0 + 12 * s, queue="sales",
                         agent_login="agent2"),
            CaseStepView("offer", 1, T0 + 12 * s, "answered", T0 + 15 * s, queue="sales",
                         agent_login="agent1"),
        ),
        queue_entries=(QueueEntryView(0, "sales", T0 + 6 * s, T0 + 15 * s, "served", 9 * s),),
        service_started_at=T0 + 15 * s, delay_before_service=15 * s,
        ended_at=T0 + 40 * s, outcome=Outcome.ANSWERED, total_time=40 * s,
    )  # fmt: skip
    steps = timeline(c)
    assert [(st.kind, st.detail, st.agent or st.choice) for st in steps] == [
        ("entered", None, None),
        ("menu", "invalid", None),
        ("menu", "chosen", "1"),
        ("queued", None, None),
        ("offer", "timeout", "agent2"),
        ("offer", "answered", "agent1"),
        ("left", "served", None),
        ("answered", None, None),
        ("ended", "answered", None),
    ]
    assert [st.took for st in steps if st.kind == "offer"] == [6 * s, 3 * s]
    assert steps[2].option == "queue:sales"
