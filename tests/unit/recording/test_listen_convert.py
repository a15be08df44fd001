"""The converter: real pydub/ffmpeg output that decodes to the same length, cached, bounded."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest
from pydub import AudioSegment

from recording.convert import (
    AudioFormat,
    ConversionFailed,
    Converter,
    ConverterBusy,
    SourceTooLarge,
    convert_file,
)
from tests.support import write_tone

KEY = "0b6f2d5e-8a59-4f0e-9d8e-2f43c0a5b111-" + "ab" * 32


@pytest.mark.parametrize("fmt", [AudioFormat.OGG, AudioFormat.MP3])
async def test_converted_audio_decodes_to_the_same_length(tmp_path: Path, fmt: AudioFormat) -> None:
    source = write_tone(tmp_path / "a.wav", 2.5)
    conv = Converter(tmp_path / "cache")
    with await conv.open(source, fmt, KEY) as f:
        data = f.read()
    out = tmp_path / f"out.{fmt.value}"
    out.write_bytes(data)
    decoded = AudioSegment.from_file(str(out), format=fmt.value)
    assert abs(len(decoded) - 2500) < 150, len(decoded)  # ms; mp3 pads a frame or two
    assert decoded.dBFS > -30  # the tone is there, not silence
    if fmt is AudioFormat.OGG:
        assert data[:4] == b"OggS"
    else:
        assert data[:3] == b"ID3" or data[0] == 0xFF  # a tag or an MPEG frame sync
    assert fmt.content_type == {"ogg": "audio/ogg", "mp3": "audio/mpeg"}[fmt.value]


async def test_wav_is_the_source_itself_and_nothing_is_cached(tmp_path: Path) -> None:
    source = write_tone(tmp_path / "a.wav", 0.2)
    conv = Converter(tmp_path / "cache")
    with await conv.open(source, AudioFormat.WAV, KEY) as f:
        assert f.read() == source.read_bytes()
    assert list((tmp_path / "cache").iterdir()) == []


async def test_one_conversion_serves_concurrent_and_later_requests(tmp_path: Path) -> None:
    source = write_tone(tmp_path / "a.wav", 0.5)
    runs: list[str] = []

    def counting(src: Path, fmt: AudioFormat, dest: Path) -> None:
        runs.append(threading.current_thread().name)
        convert_file(src, fmt, dest)

    conv = Converter(tmp_path / "cache", convert=counting)
    files = await asyncio.gather(*(conv.open(source, AudioFormat.OGG, KEY) for _ in range(4)))
    later = await conv.open(source, AudioFormat.OGG, KEY)
    bodies = {f.read() for f in [*files, later]}
    for f in [*files, later]:
        f.close()
    assert len(runs) == 1 and len(bodies) == 1
    assert runs[0] != threading.main_thread().name  # ran in a worker thread
    (cached,) = (tmp_path / "cache").iterdir()
    assert cached.name == f"{KEY}.ogg" and cached.stat().st_mode & 0o077 == 0
    assert (tmp_path / "cache").stat().st_mode & 0o077 == 0


async def test_a_listener_hanging_up_does_not_waste_the_conversion(tmp_path: Path) -> None:
    source = write_tone(tmp_path / "a.wav", 0.3)
    release, runs = threading.Event(), []

    def slow(src: Path, fmt: AudioFormat, dest: Path) -> None:
        runs.append(1)
        release.wait(5)
        convert_file(src, fmt, dest)

    conv = Converter(tmp_path / "cache", convert=slow)
    first = asyncio.create_task(conv.open(source, AudioFormat.MP3, KEY))
    await asyncio.sleep(0.05)
    first.cancel()  # the HTTP client went away
    with pytest.raises(asyncio.CancelledError):
        await first
    release.set()
    f = await conv.open(source, AudioFormat.MP3, KEY)
    assert len(f.read()) > 100 and runs == [1]
    f.close()


async def test_expired_entries_are_converted_again_and_pruned(tmp_path: Path) -> None:
    source = write_tone(tmp_path / "a.wav", 0.2)
    clock = [1_000_000.0]
    conv = Converter(tmp_path / "cache", ttl_seconds=60, now=lambda: clock[0])
    (await conv.open(source, AudioFormat.MP3, KEY)).close()
    cached = tmp_path / "cache" / f"{KEY}.mp3"
    os.utime(cached, (clock[0], clock[0]))
    clock[0] += 61
    assert conv.prune() == 1 and not cached.exists()


async def test_cache_is_capped_by_size_oldest_first(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    conv = Converter(cache, max_cache_bytes=250, now=lambda: 1e9 + 10)
    for i, name in enumerate(["a", "b", "c"]):
        (cache / name).write_bytes(b"x" * 100)
        os.utime(cache / name, (1e9 + i, 1e9 + i))
    assert conv.prune() == 1
    assert sorted(p.name for p in cache.iterdir()) == ["b", "c"]


async def test_start_up_empties_the_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "left-over.mp3").write_bytes(b"old personal audio")
    Converter(cache)
    assert list(cache.iterdir()) == []


async def test_limits_refuse_instead_of_piling_up(tmp_path: Path) -> None:
    source = write_tone(tmp_path / "a.wav", 0.2)
    with pytest.raises(SourceTooLarge, match="download it as wav"):
        await Converter(tmp_path / "c1", max_source_bytes=100).open(source, AudioFormat.MP3, KEY)

    release = threading.Event()

    def slow(src: Path, fmt: AudioFormat, dest: Path) -> None:
        release.wait(5)
        dest.write_bytes(b"done")

    conv = Converter(tmp_path / "c2", max_parallel=1, max_waiting=1, convert=slow)
    first = asyncio.create_task(conv.open(source, AudioFormat.MP3, KEY))
    await asyncio.sleep(0.05)
    with pytest.raises(ConverterBusy):
        await conv.open(source, AudioFormat.MP3, KEY.replace("0b6f", "1b6f"))
    release.set()
    with await first as f:
        assert f.read() == b"done"


async def test_undecodable_source_is_a_conversion_failure(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    conv = Converter(tmp_path / "cache")
    with pytest.raises(ConversionFailed):
        await conv.open(bad, AudioFormat.OGG, KEY)
    assert [p for p in (tmp_path / "cache").iterdir()] == []  # no temp file left behind


async def test_cache_keys_cannot_name_paths(tmp_path: Path) -> None:
    source = write_tone(tmp_path / "a.wav", 0.1)
    conv = Converter(tmp_path / "cache")
    for key in ["../x", "/etc/passwd", "a/b", ""]:
        with pytest.raises(ValueError):
            await conv.open(source, AudioFormat.OGG, key)


def test_format_names_are_validated() -> None:
    assert AudioFormat.parse("mp3") is AudioFormat.MP3
    with pytest.raises(ValueError, match="allowed: wav, ogg, mp3"):
        AudioFormat.parse("flac")
