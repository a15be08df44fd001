"""Anonymous call counters of the bulletin service: calls per number, bulletin and hour.

Counting is in memory, flushed in batches off the call path, and journalled: every count is
also one line appended to the current segment of a journal on the controller's disk
(``<journal dir>/<segment id>.log``; the write reaches the kernel before the call goes on, so a
``kill -9`` of the controller loses none). A flush closes the current segment and stores its
counts as one batch named by the segment id (``bulletin_call_counters`` +
``bulletin_counter_batches``, one transaction); the segment's file is deleted once the batch
is stored. If Postgres is unreachable the closed segments wait, in memory and on disk, and are
stored in order when it returns. A controller starting replays the segments left in the
directory (a crashed predecessor's, or its own of before a shutdown during an outage); a
batch stored already is skipped, so each call is counted once. A segment is locked (``flock``)
by the controller writing it: another controller on the same state dir leaves it alone.

No caller data is ever part of a counter: a journal line is a number id, a bulletin id (or
``-``) and an hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from ivr.clock import Clock

log = logging.getLogger(__name__)

Key = tuple[uuid.UUID, uuid.UUID | None, datetime]
SUFFIX = ".log"
PRUNE_EVERY = 3600.0  # seconds between prunes of the stored batch ids


class CounterSink(Protocol):
    async def add(self, counts: Mapping[Key, int], batch: uuid.UUID) -> bool:
        """Store ``counts`` unless ``batch`` was stored before; whether they were now."""
        ...

    async def prune_batches(self) -> int: ...


@dataclass
class Segment:
    """One journal file and the counts it holds."""

    id: uuid.UUID
    path: Path
    counts: dict[Key, int] = field(default_factory=dict)
    fd: int | None = None  # open (and locked) while it is the one being written

    def add(self, key: Key) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # the lock goes with it
            self.fd = None


_LINES_KEPT = 4096


def _line(key: Key) -> bytes:
    n, b, hour = key
    return f"{n} {b or '-'} {int(hour.timestamp())}\n".encode()


def _parse(line: str) -> Key | None:
    parts = line.split()
    if len(parts) != 3:
        return None
    try:
        n = uuid.UUID(parts[0])
        b = None if parts[1] == "-" else uuid.UUID(parts[1])
        return n, b, datetime.fromtimestamp(int(parts[2]), UTC)
    except ValueError:
        return None


class CallCounter:
    def __init__(
        self, sink: CounterSink, journal: Path, clock: Clock, *, flush_interval: float = 1.0
    ) -> None:
        self._sink = sink
        self._dir = journal
        self._clock = clock
        self._interval = flush_interval
        self._current: Segment | None = None
        self._closed: list[Segment] = []  # oldest first, not stored yet
        self._journal_ok = True
        self.flushed = 0
        self._lines: dict[Key, bytes] = {}  # the journal line of each key (a few an hour)

    # -- the call path -------------------------------------------------------------------

    def count(self, number_id: uuid.UUID, bulletin_ids: Iterable[uuid.UUID | None]) -> None:
        hour = self._clock().replace(minute=0, second=0, microsecond=0)
        seg = self._current or self._open()
        lines = []
        known = self._lines
        for bid in bulletin_ids:
            key = (number_id, bid, hour)
            seg.add(key)
            line = known.get(key)
            if line is None:
                if len(known) >= _LINES_KEPT:
                    known.clear()
                line = known[key] = _line(key)
            lines.append(line)
        if seg.fd is not None:
            try:
                os.write(seg.fd, b"".join(lines))
            except OSError as exc:  # disk full, say: the counts still go out from memory
                self._journal_failed(seg, exc)

    def adopt(self, seg_id: uuid.UUID, counts: Mapping[Key, int]) -> bool:
        """Counts taken from elsewhere (the dialplan's heard files, :mod:`ivr.bulletins.heard`)
        become the closed segment ``seg_id``. Its journal file is in place (written aside,
        then renamed) when this returns True, so the source may then be deleted; the same id
        adopted again (a crash before the source was deleted) is stored once. False: not
        journalled, nothing taken (the source stays for another try)."""
        if any(seg.id == seg_id for seg in self._closed):
            return True
        path = self._dir / f"{seg_id}{SUFFIX}"
        aside = path.with_suffix(".tmp")
        try:
            self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            with aside.open("wb") as f:
                f.write(b"".join(_line(key) * n for key, n in counts.items()))
            aside.rename(path)
        except OSError as exc:
            log.error("counter journal %s not writable (%s): counts left at source", path, exc)
            with contextlib.suppress(OSError):
                aside.unlink(missing_ok=True)
            return False
        self._closed.append(Segment(seg_id, path, dict(counts)))
        return True

    @property
    def pending(self) -> int:
        """Counts not stored yet."""
        segs = [*self._closed, *([self._current] if self._current else [])]
        return sum(sum(s.counts.values()) for s in segs)

    # -- storing -------------------------------------------------------------------------

    async def flush(self) -> bool:
        """Close the current segment and store every closed one, oldest first; whether all
        are stored."""
        if self._current is not None and self._current.counts:
            self._current.close()
            self._closed.append(self._current)
            self._current = None
        while self._closed:
            seg = self._closed[0]
            try:
                fresh = await self._sink.add(seg.counts, seg.id)
            except Exception as exc:
                log.warning(
                    "counter flush failed (%s); %d call(s) kept", type(exc).__name__, self.pending
                )
                return False
            self._closed.pop(0)
            if fresh:
                self.flushed += sum(seg.counts.values())
            else:
                log.info("counter batch %s was stored before: skipped", seg.id)
            try:
                seg.path.unlink(missing_ok=True)
            except OSError as exc:  # a journal never written (not writable)
                log.debug("counter segment %s not deleted (%s)", seg.path, exc)
        return True

    async def run(self) -> None:
        self.replay()
        since_prune = PRUNE_EVERY
        while True:
            await asyncio.sleep(self._interval)
            await self.flush()
            since_prune += self._interval
            if since_prune >= PRUNE_EVERY:
                since_prune = 0.0
                try:
                    await self._sink.prune_batches()
                except Exception as exc:
                    log.warning("counter batch ids not pruned (%s)", type(exc).__name__)

    async def close(self) -> None:
        if not await self.flush():
            log.warning(
                "%d uncounted call(s) left in the journal %s for the next start",
                self.pending,
                self._dir,
            )
        if self._current is not None:
            self._current.close()

    # -- the journal ---------------------------------------------------------------------

    def replay(self) -> None:
        """Take over the segments in the directory that no running controller holds."""
        self._replay_legacy_spool()
        try:
            paths = sorted(self._dir.glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_mtime)
        except OSError:
            return
        taken = 0
        held = {seg.path for seg in self._closed}  # adopted before the replay
        for path in paths:
            if path in held or (self._current is not None and path == self._current.path):
                continue
            try:
                seg_id = uuid.UUID(path.stem)
                fd = os.open(path, os.O_RDONLY)
            except (ValueError, OSError):
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue  # its controller runs
            try:
                text = path.read_text(errors="replace")
            finally:
                os.close(fd)
            seg = Segment(seg_id, path)
            for line in text.split("\n")[:-1]:  # what follows the last newline is torn
                key = _parse(line)
                if key is not None:
                    seg.add(key)
            self._closed.append(seg)
            taken += sum(seg.counts.values())
        if taken:
            log.info("replaying %d journalled call count(s) from %s", taken, self._dir)

    def _open(self) -> Segment:
        seg = Segment(uuid.uuid4(), Path())
        seg.path = self._dir / f"{seg.id}{SUFFIX}"
        self._current = seg
        if not self._journal_ok:
            return seg
        try:
            self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(seg.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            seg.fd = fd
        except OSError as exc:
            self._journal_failed(seg, exc)
        return seg

    def _journal_failed(self, seg: Segment, exc: OSError) -> None:
        """Counting goes on in memory alone (a crash would lose the batch); said once."""
        seg.close()
        if self._journal_ok:
            log.error("counter journal %s not writable (%s): counting in memory", seg.path, exc)
        self._journal_ok = False

    def _replay_legacy_spool(self) -> None:
        """The JSON spool of earlier versions (``<journal dir>.json``), once, as a batch."""
        spool = self._dir.with_suffix(".json")
        try:
            rows = json.loads(spool.read_text())
        except FileNotFoundError:
            return
        except ValueError:
            log.error("counter spool %s is unreadable; left in place", spool)
            return
        seg = Segment(uuid.uuid4(), spool)
        for n, b, h, c in rows:
            key = (uuid.UUID(n), uuid.UUID(b) if b else None, datetime.fromisoformat(h))
            seg.counts[key] = seg.counts.get(key, 0) + int(c)
        self._closed.append(seg)
        log.info("replaying %d spooled call count(s)", sum(seg.counts.values()))
