"""Repairing the header of a wav file Asterisk never closed (it died mid-recording)."""

from __future__ import annotations

import struct
import uuid
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr.audio import pcm_to_wav
from recording.finalise import REPAIRED, Finaliser
from recording.store import AudioKind, AudioStore
from recording.wavrepair import repair_unclosed_wav

PCM = b"\x10\x00\xf0\xff" * 4000  # 8,000 frames of 16-bit mono: 1 s at 8 kHz


def unclosed(pcm: bytes, *, data_size: int = 0, riff_size: int = 0) -> bytes:
    """A wav as Asterisk leaves it when it dies: sizes as written at the start (0)."""
    closed = pcm_to_wav(pcm)
    assert closed[36:40] == b"data"
    sizes = struct.pack("<I", riff_size), struct.pack("<I", data_size)
    return b"RIFF" + sizes[0] + closed[8:40] + sizes[1] + pcm


def frames(path: Path) -> int:
    with wave.open(str(path), "rb") as w:
        return w.getnframes()


def test_an_unclosed_file_gets_sizes_from_its_length(tmp_path: Path) -> None:
    path = tmp_path / "rec.wav"
    path.write_bytes(unclosed(PCM))
    with pytest.raises(wave.Error):
        frames(path)
    assert repair_unclosed_wav(path) is True
    assert frames(path) == 8000
    assert path.read_bytes() == pcm_to_wav(PCM)  # exactly what a closed file would be
    assert repair_unclosed_wav(path) is False  # a second look changes nothing


def test_a_half_written_frame_at_the_end_is_left_out(tmp_path: Path) -> None:
    path = tmp_path / "rec.wav"
    path.write_bytes(unclosed(PCM + b"\x01"))
    assert repair_unclosed_wav(path) is True
    assert frames(path) == 8000


def test_a_data_size_past_the_end_of_the_file_is_cut_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rec.wav"
    path.write_bytes(unclosed(PCM, data_size=10**6, riff_size=10**6 + 36))
    assert repair_unclosed_wav(path) is True
    assert frames(path) == 8000


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(pcm_to_wav(PCM), id="closed"),
        pytest.param(b"", id="empty"),
        pytest.param(b"RIFF garbage", id="short"),
        pytest.param(b"OggS" + bytes(100), id="not-riff"),
        pytest.param(unclosed(b""), id="header-only"),
        pytest.param(unclosed(PCM)[:20] + b"\x03\x00" + unclosed(PCM)[22:], id="float-not-pcm"),
        pytest.param(b"RIFF\x00\x00\x00\x00WAVEdata\x00\x00\x00\x00" + PCM, id="no-fmt"),
    ],
)
def test_anything_else_is_left_as_it_is(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.wav"
    path.write_bytes(content)
    assert repair_unclosed_wav(path) is False
    assert path.read_bytes() == content


async def test_finalising_an_unclosed_file_keeps_the_audio_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "spool").mkdir()
    f = Finaliser(AudioStore(tmp_path / "store"), tmp_path / "spool")
    (tmp_path / "spool" / "rec-crash.wav").write_bytes(unclosed(PCM * 2))
    at = datetime(2026, 11, 23, tzinfo=UTC)
    done = await f.finalise("rec-crash", AudioKind.RECORDING, uuid.UUID(int=1), uuid.uuid4(), at)
    assert done.repaired and done.duration == timedelta(seconds=2)
    assert frames(f.store.path(done.stored.location)) == 16000
    assert done.failure(None) == REPAIRED
    assert done.failure("no end of recording") == f"no end of recording; {REPAIRED}"
