"""A local, append-only, size-bounded spool of JSON lines, in numbered segment files.

Used by the case recorder while Postgres is unreachable. Layout of the directory::

    seg-000000000007.jsonl   closed segments, replayed oldest first, deleted once written
    seg-000000000008.jsonl   the active segment: appends go here
    rejected.jsonl           notes on records the database refused (case id, constraint; no row)
    .lock                    flock'd while a process owns the spool

Guarantees: :meth:`Spool.append` returns only after the lines are written and fsync'd. A
segment is deleted only after its lines were written to the database, so a crash between
the two replays the segment again (the writes are idempotent). A crash in the middle of an
append leaves at most one torn last line, which the reader skips with an error. The total
size of the segments never exceeds ``max_bytes``: what does not fit is refused and returned
to the caller, who must report it (the spool never drops anything by itself).

Synchronous on purpose: the recorder calls it from a worker thread, one call at a time.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from storage.errors import SpoolError

log = logging.getLogger(__name__)

_SEGMENT = re.compile(r"^seg-(\d{12})\.jsonl$")


class Spool:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._lock_fd: int | None = None
        self._active: Path | None = None
        self._active_fd: int | None = None
        self._active_bytes = 0
        self._next_seq = 1
        self._bytes = 0

    # ----- lifecycle ---------------------------------------------------------------------------
    def open(self) -> None:
        """Take the directory (one process at a time) and account for existing segments."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SpoolError(f"cannot open spool {self.directory}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            raise SpoolError(f"spool {self.directory} is in use by another process") from exc
        self._lock_fd = fd
        segments = self.segments()
        self._bytes = sum(p.stat().st_size for p in segments)
        if segments:
            self._next_seq = _seq(segments[-1]) + 1
            log.warning(
                "spool %s holds %d segment(s), %d bytes from an earlier run: will replay",
                self.directory,
                len(segments),
                self._bytes,
            )

    def close(self) -> None:
        self._close_active()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # ----- state -------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Bytes held in segments (the active one included)."""
        return self._bytes

    @property
    def empty(self) -> bool:
        return self._bytes == 0 and not self.closed_segments()

    def segments(self) -> list[Path]:
        found = [p for p in self.directory.iterdir() if _SEGMENT.match(p.name)]
        return sorted(found, key=_seq)

    def closed_segments(self) -> list[Path]:
        return [p for p in self.segments() if p != self._active]

    # ----- writing -----------------------------------------------------------------------------
    def append(self, lines: Sequence[bytes]) -> int:
        """Append whole lines (each ending in ``\\n``) in order and fsync. Returns how many were
        written: fewer than given when the spool is full (the rest were not written)."""
        room = self.max_bytes - self._bytes
        fitting = 0
        used = 0
        for line in lines:
            if used + len(line) > room:
                break
            used += len(line)
            fitting += 1
        if fitting == 0:
            return 0
        data = b"".join(lines[:fitting])
        try:
            fd = self._ensure_active()
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except OSError as exc:
            # A partial write may have reached the file: count what is there now, start a
            # new segment next time so the torn line stays at a segment's end.
            self._recount_active()
            self._close_active()
            raise SpoolError(f"cannot write spool {self.directory}: {exc}") from exc
        self._bytes += len(data)
        self._active_bytes += len(data)
        return fitting

    def rotate(self) -> None:
        """Close the active segment so it can be replayed; later appends start a new one."""
        if self._active is not None and self._active_bytes == 0:
            return
        self._close_active()

    def _ensure_active(self) -> int:
        if self._active_fd is not None:
            return self._active_fd
        path = self.directory / f"seg-{self._next_seq:012d}.jsonl"
        self._next_seq += 1
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _fsync_dir(self.directory)
        self._active, self._active_fd, self._active_bytes = path, fd, 0
        return fd

    def _close_active(self) -> None:
        if self._active_fd is not None:
            os.close(self._active_fd)
        self._active, self._active_fd, self._active_bytes = None, None, 0

    def _recount_active(self) -> None:
        if self._active is None:
            return
        try:
            actual = self._active.stat().st_size
        except OSError:
            return
        self._bytes += actual - self._active_bytes
        self._active_bytes = actual

    # ----- replaying ---------------------------------------------------------------------------
    def read(self, segment: Path) -> Iterator[bytes]:
        """The complete lines of a closed segment, in order (a torn last line is skipped)."""
        try:
            with segment.open("rb") as fh:
                for line in fh:
                    if not line.endswith(b"\n"):
                        log.error(
                            "spool %s: torn last line (%d bytes) skipped: it was never fsync'd",
                            segment.name,
                            len(line),
                        )
                        return
                    if line.strip():
                        yield line
        except OSError as exc:
            raise SpoolError(f"cannot read spool segment {segment}: {exc}") from exc

    def remove(self, segment: Path) -> None:
        """Forget a replayed segment (only once its lines are safely in the database)."""
        if segment == self._active:
            raise SpoolError("cannot remove the active segment; rotate first")
        try:
            size = segment.stat().st_size
            segment.unlink()
            _fsync_dir(self.directory)
        except OSError as exc:
            raise SpoolError(f"cannot remove spool segment {segment}: {exc}") from exc
        self._bytes -= size

    # ----- rejects -----------------------------------------------------------------------------
    def reject(self, lines: Sequence[bytes]) -> None:
        """Keep notes on records the database refused, for an operator (never replayed).

        The caller writes what finds the problem (case id, constraint), never the record."""
        if not lines:
            return
        path = self.directory / "rejected.jsonl"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, b"".join(lines))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise SpoolError(f"cannot write {path}: {exc}") from exc


def _seq(path: Path) -> int:
    match = _SEGMENT.match(path.name)
    assert match is not None
    return int(match.group(1))


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
