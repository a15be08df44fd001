"""Timing derivation from scripted event sequences (pure, no database)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from storage.events import (
    CallerDetails,
    CaseEnded,
    CaseEvent,
    CaseOpened,
    CaseQueued,
    Channel,
    ContactRequested,
    Outcome,
    QueueExit,
    QueueLeft,
    ServiceStarted,
)
from storage.timing import CaseAlreadyEnded, CaseState, UnknownCase, apply

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
TENANT = uuid.UUID(int=1)
AGENT = uuid.UUID(int=2)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def run(events: list[CaseEvent]) -> CaseState:
    state: CaseState | None = None
    for e in events:
        state = apply(state, e)
    assert state is not None
    return state


def opened(cid: uuid.UUID, **kw: str) -> CaseOpened:
    return CaseOpened(cid, TENANT, Channel.PHONE, T0, service_number="0201234", **kw)


def test_answered_after_queueing() -> None:
    cid = uuid.uuid4()
    s = run(
        [
            opened(cid, caller_number="+358401234567"),
            CaseQueued(cid, "support", at(5)),
            ServiceStarted(cid, at(35), AGENT),
            CaseEnded(cid, Outcome.ANSWERED, at(155)),
        ]
    )
    assert s.delay_before_service == timedelta(seconds=35)
    assert s.queue_wait == timedelta(seconds=30)
    assert s.service_time == timedelta(seconds=120)
    assert s.total_time == timedelta(seconds=155)
    assert s.agent_id == AGENT
    assert s.outcome is Outcome.ANSWERED
    (stay,) = s.queue_stays
    assert stay.exit is QueueExit.SERVED and stay.left_at == at(35)


def test_abandoned_in_queue() -> None:
    cid = uuid.uuid4()
    s = run(
        [opened(cid), CaseQueued(cid, "support", at(3)), CaseEnded(cid, Outcome.ABANDONED, at(63))]
    )
    assert s.delay_before_service is None
    assert s.service_time is None
    assert s.queue_wait == timedelta(seconds=60)
    assert s.total_time == timedelta(seconds=63)
    assert s.queue_stays[0].exit is QueueExit.ABANDONED


def test_callback_requested_from_queue() -> None:
    cid, rid = uuid.uuid4(), uuid.uuid4()
    s = run(
        [
            opened(cid),
            CaseQueued(cid, "support", at(10)),
            QueueLeft(cid, at(100), QueueExit.CALLBACK),
            ContactRequested(cid, rid, at(120), callback_number="+358401234567"),
            CaseEnded(cid, Outcome.CALLBACK_REQUESTED, at(125)),
        ]
    )
    assert s.queue_wait == timedelta(seconds=90)  # until the caller chose the callback
    assert s.delay_before_service is None
    assert s.total_time == timedelta(seconds=125)
    assert [r.request_id for r in s.contact_requests] == [rid]
    assert s.queue_stays[0].exit is QueueExit.CALLBACK


def test_callback_ended_while_still_queued_closes_the_stay_as_callback() -> None:
    cid = uuid.uuid4()
    s = run(
        [
            opened(cid),
            CaseQueued(cid, "q", at(1)),
            CaseEnded(cid, Outcome.CALLBACK_REQUESTED, at(9)),
        ]
    )
    assert s.queue_stays[0].exit is QueueExit.CALLBACK
    assert s.queue_wait == timedelta(seconds=8)


def test_waits_of_several_queues_add_up_and_first_service_counts() -> None:
    cid = uuid.uuid4()
    other = uuid.uuid4()
    s = run(
        [
            opened(cid),
            CaseQueued(cid, "first-line", at(0)),
            CaseQueued(cid, "second-line", at(20)),  # moved: first stay ends as transferred
            ServiceStarted(cid, at(50), AGENT),
            ServiceStarted(cid, at(80), other),  # handed over: service started at 50 still
            CaseEnded(cid, Outcome.ANSWERED, at(100)),
        ]
    )
    assert [q.exit for q in s.queue_stays] == [QueueExit.TRANSFERRED, QueueExit.SERVED]
    assert s.queue_wait == timedelta(seconds=50)
    assert s.delay_before_service == timedelta(seconds=50)
    assert s.service_time == timedelta(seconds=50)
    assert s.agent_id == other


def test_served_without_queue_has_no_queue_wait() -> None:
    cid = uuid.uuid4()
    s = run([opened(cid), ServiceStarted(cid, at(2)), CaseEnded(cid, Outcome.ANSWERED, at(12))])
    assert s.queue_wait is None
    assert s.delay_before_service == timedelta(seconds=2)
    assert s.agent_id is None


def test_time_never_runs_backwards() -> None:
    cid = uuid.uuid4()
    s = run(
        [
            opened(cid),
            CaseQueued(cid, "q", at(10)),
            ServiceStarted(cid, at(5)),  # stamped before the queueing: taken as at(10)
            CaseEnded(cid, Outcome.ANSWERED, at(-3)),
        ]
    )
    assert s.queue_wait == timedelta(0)
    assert s.delay_before_service == timedelta(seconds=10)
    assert s.service_time == timedelta(0)
    assert s.ended_at == at(10)


def test_unknown_case_and_events_after_the_end_are_refused() -> None:
    cid = uuid.uuid4()
    with pytest.raises(UnknownCase):
        apply(None, CaseQueued(cid, "q", T0))
    ended = run([opened(cid), CaseEnded(cid, Outcome.ABANDONED, at(1))])
    with pytest.raises(CaseAlreadyEnded):
        apply(ended, ServiceStarted(cid, at(2)))
    # Data may still arrive after the end (a recording is finalised after hang-up).
    later = apply(ended, CallerDetails(cid, caller_name="Maija"))
    assert later.caller_name == "Maija"


def test_reopening_keeps_the_first_start_and_duplicates_are_no_ops() -> None:
    cid, rid = uuid.uuid4(), uuid.uuid4()
    s = run([opened(cid), ContactRequested(cid, rid, at(1), message="soita")])
    again = apply(s, CaseOpened(cid, TENANT, Channel.PHONE, at(50), caller_number="+3585"))
    assert again.started_at == T0 and again.caller_number == "+3585"
    assert apply(s, ContactRequested(cid, rid, at(2), message="x")) is s
