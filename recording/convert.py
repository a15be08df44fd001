"""Format conversion for the listening API: a stored wav as wav, ogg (Vorbis) or mp3.

pydub drives ffmpeg synchronously, so every conversion runs in a worker thread, at most
``max_parallel`` at once; when ``max_waiting`` conversions are already running or queued, a
new one is refused with :class:`ConverterBusy` instead of piling up. A conversion runs to
its end even if every listener waiting for it hangs up (the thread cannot be stopped anyway),
so the limits always count real work. Sources larger than ``max_source_bytes``
are refused with :class:`SourceTooLarge` (pydub holds the decoded audio in memory).

Output goes to a private cache directory (mode 0700), keyed by audio id and source checksum,
written under a temporary name and renamed, so a half-written file is never served; two
requests for the same conversion share one run. Converted copies are personal data too: they
expire after ``ttl`` (:data:`CACHE_TTL`, 10 minutes), the cache is capped at
``max_cache_bytes`` and emptied at start-up. Expired copies are removed by
:func:`prune_periodically` (a task of the recordings feature) and by every sweep, whether or
not anything else is converted; :func:`drop_copies` removes the copies of audio that is deleted
(retention sweep, erasure) at once.
:meth:`Converter.open` hands back an open file, so a concurrent prune cannot pull it away.
The caller (:mod:`recording.listen`) checks the database row and the source file before every
request, so audio that was swept is never served from this cache.

Exception tree::

    ConversionError            the audio cannot be given in the requested format
    ├── ConverterBusy          too many conversions queued (try again later)
    ├── SourceTooLarge         the source is over the size limit (download the wav)
    └── ConversionFailed       pydub / ffmpeg could not read or write the audio
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import stat
import time
import uuid
from collections.abc import Callable, Iterable
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

_KEY = re.compile(r"^[0-9a-f][0-9a-f-]{0,127}$")
_ID_LEN = 36  # a cache name starts with the audio id: "<uuid>-<sha256>.<fmt>"

CACHE_TTL = 600.0  # seconds a converted copy is kept (the README promises 10 minutes)
PRUNE_INTERVAL = 30.0  # seconds between two prunes of the cache by prune_periodically


class ConversionError(Exception):
    """The audio cannot be given in the requested format."""


class ConverterBusy(ConversionError):
    pass


class SourceTooLarge(ConversionError):
    pass


class ConversionFailed(ConversionError):
    pass


class AudioFormat(StrEnum):
    WAV = "wav"
    OGG = "ogg"
    MP3 = "mp3"

    @property
    def content_type(self) -> str:
        return _CONTENT_TYPES[self]

    @classmethod
    def parse(cls, value: str) -> AudioFormat:
        """The format named ``value``; ValueError listing the allowed names otherwise."""
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(f.value for f in cls)
            raise ValueError(f"unknown format {value[:20]!r}; allowed: {allowed}") from None


_CONTENT_TYPES = {
    AudioFormat.WAV: "audio/wav",
    AudioFormat.OGG: "audio/ogg",
    AudioFormat.MP3: "audio/mpeg",
}
# pydub export arguments: speech at 8-16 kHz mono needs little bitrate.
_EXPORT: dict[AudioFormat, dict[str, object]] = {
    AudioFormat.OGG: {"format": "ogg", "codec": "libvorbis", "parameters": ["-q:a", "3"]},
    AudioFormat.MP3: {"format": "mp3", "codec": "libmp3lame", "bitrate": "48k"},
}


def convert_file(source: Path, fmt: AudioFormat, dest: Path) -> None:
    """Convert a wav file to ``fmt`` at ``dest`` (blocking: call it in a thread)."""
    from pydub import AudioSegment  # imported lazily: pydub probes for ffmpeg on import

    try:
        segment = AudioSegment.from_file(str(source), format="wav")
        segment.export(str(dest), **_EXPORT[fmt]).close()
    except Exception as exc:  # pydub raises bare Exception subclasses of many kinds
        raise ConversionFailed(f"cannot convert to {fmt.value}: {type(exc).__name__}") from exc


def drop_copies(cache_dir: Path, audio_ids: Iterable[uuid.UUID]) -> int:
    """Remove every converted copy (finished or being written) of the audio ``audio_ids``;
    the number of files removed. Blocking: call it in a worker thread."""
    wanted = {str(i) for i in audio_ids}
    if not wanted:
        return 0
    removed = 0
    try:
        entries = list(cache_dir.iterdir())
    except FileNotFoundError:
        return 0
    for entry in entries:
        # temp files of a running conversion are ".<name>.<random>.tmp"
        if entry.name.lstrip(".")[:_ID_LEN] in wanted and entry.is_file():
            entry.unlink(missing_ok=True)
            removed += 1
    return removed


def prune_cache(cache_dir: Path, *, ttl: float, now: float, max_bytes: int | None = None) -> int:
    """Remove the files in ``cache_dir`` older than ``ttl`` seconds, then the oldest while
    they total over ``max_bytes``; the number removed (subdirectories are left alone)."""
    files: list[tuple[float, int, Path]] = []
    removed = 0
    try:
        entries = list(cache_dir.iterdir())
    except FileNotFoundError:
        return 0
    for entry in entries:
        try:
            st = entry.stat()
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        if now - st.st_mtime > ttl:
            entry.unlink(missing_ok=True)
            removed += 1
        else:
            files.append((st.st_mtime, st.st_size, entry))
    if max_bytes is None:
        return removed
    total = sum(size for _, size, _ in files)
    for _mtime, size, entry in sorted(files):
        if total <= max_bytes:
            break
        entry.unlink(missing_ok=True)
        total -= size
        removed += 1
    return removed


class Converter:
    def __init__(
        self,
        cache_dir: Path,
        *,
        max_parallel: int = 2,
        max_waiting: int = 16,
        max_source_bytes: int = 128 << 20,
        ttl_seconds: float = CACHE_TTL,
        max_cache_bytes: int = 512 << 20,
        convert: Callable[[Path, AudioFormat, Path], None] = convert_file,
        now: Callable[[], float] = time.time,
    ) -> None:
        if max_parallel < 1 or max_waiting < 1:
            raise ValueError("max_parallel and max_waiting must be at least 1")
        self.cache_dir = cache_dir
        self._sem = asyncio.Semaphore(max_parallel)
        self._max_waiting = max_waiting
        self._max_source = max_source_bytes
        self._ttl = ttl_seconds
        self._max_cache = max_cache_bytes
        self._convert = convert
        self._now = now
        self._inflight: dict[str, asyncio.Task[None]] = {}  # cache name -> its conversion
        cache_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(cache_dir, 0o700)
        self.clear()

    def clear(self) -> int:
        """Remove every cached file; the number removed."""
        removed = 0
        for entry in self.cache_dir.iterdir():
            if entry.is_file():
                entry.unlink(missing_ok=True)
                removed += 1
        return removed

    def prune(self) -> int:
        """Drop expired files, then the oldest ones while over the size cap."""
        return prune_cache(
            self.cache_dir, ttl=self._ttl, now=self._now(), max_bytes=self._max_cache
        )

    def forget(self, audio_ids: Iterable[uuid.UUID]) -> int:
        """Remove the copies of ``audio_ids`` (their audio was deleted)."""
        return drop_copies(self.cache_dir, audio_ids)

    async def open(self, source: Path, fmt: AudioFormat, key: str) -> BinaryIO:
        """An open file with the audio of ``source`` (a wav) in ``fmt``; close it after use.

        ``key`` names the cache entry: the audio id and its checksum, so a changed source
        never matches an old conversion.
        """
        if fmt is AudioFormat.WAV:
            return source.open("rb")
        if not _KEY.match(key):
            raise ValueError(f"bad cache key {key[:40]!r}")
        dest = self.cache_dir / f"{key}.{fmt.value}"
        self.prune()
        cached = self._open_fresh(dest)
        if cached is not None:
            return cached
        task = self._inflight.get(dest.name)
        if task is None:
            size = os.stat(source).st_size
            if size > self._max_source:
                raise SourceTooLarge(
                    f"audio is {size} bytes, over the {self._max_source}-byte conversion "
                    "limit; download it as wav"
                )
            if len(self._inflight) >= self._max_waiting:
                raise ConverterBusy("too many conversions in progress; try again later")
            task = asyncio.create_task(self._run(source, fmt, dest), name=f"convert-{key}")
            self._inflight[dest.name] = task
            task.add_done_callback(lambda t: self._finished(dest.name, t))
        # Shielded: a listener who hangs up does not abandon a conversion half-way (the thread
        # would run on regardless); the next request for the same audio gets the result.
        await asyncio.shield(task)
        return dest.open("rb")

    def _finished(self, name: str, task: asyncio.Task[None]) -> None:
        self._inflight.pop(name, None)
        if not task.cancelled() and task.exception() is not None:
            log.debug("[%s] conversion failed: %s", name, task.exception())

    def _open_fresh(self, dest: Path) -> BinaryIO | None:
        try:
            f = dest.open("rb")
        except FileNotFoundError:
            return None
        if self._now() - os.fstat(f.fileno()).st_mtime > self._ttl:
            f.close()
            return None
        return f

    async def _run(self, source: Path, fmt: AudioFormat, dest: Path) -> None:
        async with self._sem:
            await self._convert_to(source, fmt, dest)

    async def _convert_to(self, source: Path, fmt: AudioFormat, dest: Path) -> None:
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
        started = time.monotonic()
        try:
            await asyncio.to_thread(self._convert, source, fmt, tmp)
            os.chmod(tmp, 0o600)
            os.replace(tmp, dest)
        except ConversionError:
            raise
        except OSError as exc:
            raise ConversionFailed(f"cannot convert to {fmt.value}: {exc.strerror}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        log.info("[%s] converted to %s in %.2f s", dest.stem, fmt.value, time.monotonic() - started)


async def prune_periodically(converter: Converter, interval: float = PRUNE_INTERVAL) -> None:
    """Prune the converter's cache every ``interval`` seconds (first at once), so a copy
    outlives its TTL by at most ``interval`` even when nothing else is converted."""
    while True:
        try:
            removed = converter.prune()
        except OSError as exc:
            log.warning("[listen-cache] prune failed (%s); next try in %.0f s", exc, interval)
        else:
            if removed:
                log.info("[listen-cache] %d expired converted copies removed", removed)
        await asyncio.sleep(interval)
