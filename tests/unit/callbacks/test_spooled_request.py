"""A callback request captured while Postgres is down is spooled whole: its number, queue and
place survive the spool, and the writer's row carries them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from storage.casewriter import rows
from storage.codec import decode_state, encode_state
from storage.events import CaseEnded, CaseOpened, CaseQueued, Channel, ContactRequested, Outcome
from storage.timing import apply

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_request_with_its_place_round_trips_through_the_spool() -> None:
    case, request = uuid.uuid4(), uuid.uuid4()
    state = None
    for event in (
        CaseOpened(case, uuid.uuid4(), Channel.PHONE, T0, caller_number="0401234567"),
        CaseQueued(case, "support", T0 + timedelta(seconds=5)),
        ContactRequested(
            case,
            request,
            T0 + timedelta(seconds=40),
            callback_number="+358401234567",
            queue="support",
            queue_entered_at=T0 + timedelta(seconds=5),
        ),
        CaseEnded(case, Outcome.CALLBACK_REQUESTED, T0 + timedelta(seconds=50)),
    ):
        state = apply(state, event)
    assert state is not None
    back = decode_state(encode_state(state))
    assert back == state
    (row,) = rows([back])["requests"]
    assert row["id"] == request and row["queue"] == "support"
    assert row["callback_number"] == "+358401234567"
    assert row["queue_entered_at"] == T0 + timedelta(seconds=5)
    assert row["status"] == "open"
