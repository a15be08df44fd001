"""Finalising Asterisk's files into the store, and recording rows surviving the spool."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr.audio import pcm_to_wav
from recording.errors import RecordingLost
from recording.finalise import EMPTY_SHA256, Finaliser, check_name
from recording.store import AudioKind, AudioStore
from storage.codec import decode_state, encode_state
from storage.events import (
    AudioStatus,
    CaseOpened,
    Channel,
    RecordingCompleted,
    RecordingPause,
    VoiceMessageSaved,
)
from storage.timing import apply

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TENANT = uuid.UUID(int=1)


def finaliser(tmp_path: Path) -> Finaliser:
    (tmp_path / "spool").mkdir()
    return Finaliser(AudioStore(tmp_path / "store"), tmp_path / "spool")


async def test_moves_the_file_and_measures_it(tmp_path: Path) -> None:
    f = finaliser(tmp_path)
    (tmp_path / "spool" / "rec-a.wav").write_bytes(pcm_to_wav(b"\x01\x00" * 12_000))
    audio_id = uuid.uuid4()
    done = await f.finalise("rec-a", AudioKind.RECORDING, TENANT, audio_id, T0)
    assert done.duration == timedelta(seconds=1.5)
    assert done.stored.location == f"{TENANT}/recordings/2026/11/{audio_id}.wav"
    assert f.store.path(done.stored.location).stat().st_size == done.stored.size_bytes
    assert not (tmp_path / "spool" / "rec-a.wav").exists()


async def test_missing_or_broken_files_are_lost_with_a_reason(tmp_path: Path) -> None:
    f = finaliser(tmp_path)
    with pytest.raises(RecordingLost, match=r"Asterisk left no file rec-b\.wav"):
        await f.finalise("rec-b", AudioKind.RECORDING, TENANT, uuid.uuid4(), T0)
    (tmp_path / "spool" / "rec-c.wav").write_bytes(b"RIFF garbage")
    with pytest.raises(RecordingLost, match=r"unreadable wav rec-c\.wav"):
        await f.finalise("rec-c", AudioKind.VOICE_MESSAGE, TENANT, uuid.uuid4(), T0)
    assert (tmp_path / "spool" / "rec-c.wav").exists()  # left for a look, not deleted


@pytest.mark.parametrize("name", ["", "../etc/passwd", "a/b", "x.wav", "a b", "x" * 121])
def test_names_are_checked(name: str) -> None:
    with pytest.raises(ValueError, match="bad recording name"):
        check_name(name)


def test_placeholder_points_into_the_store_without_a_file(tmp_path: Path) -> None:
    f = finaliser(tmp_path)
    audio_id = uuid.uuid4()
    where = f.placeholder(AudioKind.VOICE_MESSAGE, TENANT, audio_id, T0)
    assert where.location == f"{TENANT}/voice_messages/2026/11/{audio_id}.wav"
    assert (where.size_bytes, where.sha256) == (0, EMPTY_SHA256)
    assert not f.store.exists(where.location)


def test_recording_and_message_details_survive_the_spool() -> None:
    case = uuid.uuid4()
    state = apply(None, CaseOpened(case, TENANT, Channel.PHONE, T0))
    rec = RecordingCompleted(
        case, uuid.uuid4(), "rec-x", "loc", T0, timedelta(seconds=3), 10, "0" * 64,
        status=AudioStatus.FAILED, failure_reason="why",
        pauses=(RecordingPause(timedelta(seconds=1), timedelta(seconds=2.5)),),
        started_at=T0, notice_played_at=T0 - timedelta(seconds=4),
    )  # fmt: skip
    msg = VoiceMessageSaved(
        case, uuid.uuid4(), "vm-x", "loc2", T0, timedelta(seconds=2), 5, "1" * 64, box="sales"
    )
    state = apply(apply(state, rec), msg)
    assert decode_state(encode_state(state)) == state
