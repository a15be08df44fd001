from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from storage.codec import BadLine, decode_state, encode_state
from storage.events import (
    CaseEnded,
    CaseOpened,
    CaseQueued,
    Channel,
    ContactRequested,
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
        CaseQueued(cid, "tuki", t0 + timedelta(seconds=1)),
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
