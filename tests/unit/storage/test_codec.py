from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from storage.codec import BadLine, decode_state, encode_state
from storage.events import (
    AgentOffered,
    CaseEnded,
    CaseOpened,
    CaseQueued,
    Channel,
    ContactRequested,
    MenuChosen,
    MenuResult,
    OfferResult,
    Outcome,
    RecordingCompleted,
    ServiceStarted,
    VoiceMessageSaved,
)
from storage.timing import CaseState, apply


def full_state() -> CaseState:
    cid = uuid.uuid4()
    t0 = datetime(2026, 11, 22, 8, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    state = None
    for e in (
        CaseOpened(cid, uuid.uuid4(), Channel.PHONE, t0, "0201", "+358401", "Äijä Öö", "a@b.fi"),
        MenuChosen(cid, t0, "main", MenuResult.INVALID),
        MenuChosen(cid, t0, "main", MenuResult.CHOSEN, "2", "queue:tuki"),
        CaseQueued(cid, "tuki", t0 + timedelta(seconds=1)),
        AgentOffered(
            cid, t0, "tuki", "agent1", t0 + timedelta(seconds=2), OfferResult.ANSWERED, uuid.uuid4()
        ),
        ServiceStarted(cid, t0 + timedelta(seconds=2, microseconds=7), uuid.uuid4()),
        ContactRequested(cid, uuid.uuid4(), t0, "+358", message="rivi\nkaksi", queue="tuki"),
        RecordingCompleted(
            cid, uuid.uuid4(), "r", "/rec/r.wav", t0, timedelta(seconds=3), 10, "a" * 64
        ),
        VoiceMessageSaved(cid, uuid.uuid4(), "v", "/vm/v.wav", t0, timedelta(0), 0, "b" * 64),
        CaseEnded(cid, Outcome.ANSWERED, t0 + timedelta(minutes=3)),
    ):
        state = apply(state, e)
    assert state is not None
    return state


def test_round_trip_is_exact() -> None:
    state = full_state()
    line = encode_state(state)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode_state(line) == state


def test_a_line_from_before_the_timeline_steps_still_decodes() -> None:
    """A spool written before ``menu_choices``/``offers`` existed replays (empty steps)."""
    state = full_state()
    assert state.menu_choices and state.offers
    body = json.loads(encode_state(state))
    del body["menu_choices"], body["offers"]
    old = decode_state(json.dumps(body).encode())
    assert (old.menu_choices, old.offers) == ((), ())
    assert old.queue_stays == state.queue_stays


def test_naive_datetimes_are_refused() -> None:
    state = full_state()
    line = encode_state(state).replace(b"+02:00", b"")
    with pytest.raises(BadLine):
        decode_state(line)


@pytest.mark.parametrize("line", [b"{", b"[]", b'{"v": 99}', b'{"v": 1, "case_id": "x"}'])
def test_garbage_is_a_bad_line(line: bytes) -> None:
    with pytest.raises(BadLine):
        decode_state(line)


def test_utc_is_kept() -> None:
    cid = uuid.uuid4()
    s = apply(None, CaseOpened(cid, uuid.uuid4(), Channel.WEB, datetime.now(UTC)))
    assert decode_state(encode_state(s)) == s
