"""Audio helpers: text-to-speech with espeak-ng, conversion to Asterisk's 8 kHz mono wav,
concatenation and durations. Everything Asterisk plays is 8 kHz, mono, 16-bit PCM wav."""

from __future__ import annotations

import array
import asyncio
import hashlib
import io
import logging
import os
import sys
import wave
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

RATE = 8000
TTS_VERSION = "espeak-ng/1"  # part of the cache key: bump when rendering changes
VOICES = {"fi": "fi", "sv": "sv", "en": "en"}


class AudioError(ValueError):
    """Audio that cannot be read or rendered."""


def tts_key(text: str, language: str) -> str:
    return hashlib.sha256(f"{TTS_VERSION}\0{language}\0{text}".encode()).hexdigest()


def hashlib_key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def _run(*cmd: str, stdin: bytes | None = None) -> bytes:
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(stdin)
    if proc.returncode != 0:
        raise AudioError(
            f"{cmd[0]} exited {proc.returncode}: {err.decode(errors='replace')[-200:]}"
        )
    return out


async def speak(text: str, language: str) -> bytes:
    """Render text to 8 kHz mono 16-bit wav bytes."""
    voice = VOICES.get(language)
    if voice is None:
        raise AudioError(f"no text-to-speech voice for language {language!r}")
    spoken = await _run("espeak-ng", "-v", voice, "-s", "150", "--stdout", stdin=text.encode())
    # Raw PCM out of sox: a wav header written to a pipe carries no usable length. -R: the
    # dither seeded the same each time, so one text gives the same prompt bytes.
    pcm = await _run(
        "sox",
        "-R",
        "--ignore-length",
        "-t",
        "wav",
        "-",
        "-t",
        "raw",
        "-r",
        str(RATE),
        "-c",
        "1",
        "-b",
        "16",
        "-e",
        "signed-integer",
        "-",
        stdin=spoken,
    )
    return pcm_to_wav(pcm)


def pcm_to_wav(pcm: bytes) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)
    return out.getvalue()


def to_asterisk_wav(data: bytes) -> bytes:
    """Any audio pydub/ffmpeg can read → 8 kHz mono 16-bit wav. Raises AudioError."""
    from pydub import AudioSegment  # imported lazily: pydub probes ffmpeg at import
    from pydub.exceptions import CouldntDecodeError

    try:
        seg = AudioSegment.from_file(io.BytesIO(data))
    except (CouldntDecodeError, IndexError, OSError) as exc:
        raise AudioError(f"unreadable audio: {exc}".splitlines()[0][:200]) from None
    if len(seg) < 100:
        raise AudioError("audio is shorter than 0.1 s")
    seg = seg.set_frame_rate(RATE).set_channels(1).set_sample_width(2)
    out = io.BytesIO()
    seg.export(out, format="wav")
    return out.getvalue()


def wav_duration(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as w:
        return float(w.getnframes()) / float(w.getframerate())


def concat_wavs(parts: Sequence[bytes], *, gap: float = 0.5) -> bytes:
    """Join 8 kHz mono 16-bit wavs with a short silence between them."""
    frames: list[bytes] = []
    silence = b"\0\0" * int(RATE * gap)
    for i, part in enumerate(parts):
        with wave.open(io.BytesIO(part)) as w:
            if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (RATE, 1, 2):
                raise AudioError("concat_wavs needs 8 kHz mono 16-bit input")
            if i:
                frames.append(silence)
            frames.append(w.readframes(w.getnframes()))
    return pcm_to_wav(b"".join(frames))


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write to a temp name in the same directory, fsync, rename: readers never see half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def trim_silence(data: bytes, *, threshold: int = 300, margin: float = 0.04) -> bytes:
    """An 8 kHz mono 16-bit wav without its leading and trailing silence (samples quieter
    than ``threshold``), keeping ``margin`` seconds either side. All silence: unchanged."""
    with wave.open(io.BytesIO(data)) as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (RATE, 1, 2):
            raise AudioError("trim_silence needs 8 kHz mono 16-bit input")
        samples = array.array("h", w.readframes(w.getnframes()))
    if sys.byteorder == "big":
        samples.byteswap()
    loud = [i for i, s in enumerate(samples) if abs(s) > threshold]
    if not loud:
        return data
    keep = int(RATE * margin)
    start, end = max(0, loud[0] - keep), min(len(samples), loud[-1] + 1 + keep)
    kept = samples[start:end]
    if sys.byteorder == "big":
        kept.byteswap()
    return pcm_to_wav(kept.tobytes())


def silence(seconds: float) -> bytes:
    """An 8 kHz mono 16-bit wav of ``seconds`` of silence."""
    return pcm_to_wav(b"\0\0" * int(RATE * seconds))
