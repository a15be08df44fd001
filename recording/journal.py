"""The journal of audio rows not yet in Postgres: a callback recording (or a recovered one)
counts as stored only once its row is in the table *or* in this journal.

:class:`recording.attached.AttachedRecordings` writes an entry (one small file per audio,
written to a temporary name, fsync'd, renamed, directory fsync'd) before it first tries the
row, and deletes it once the row is written. Whatever is left after a crash, a ``kill -9`` or
an hour-long outage is tried again at the next start and then periodically; the sweeper keeps
a row-less file whose row is journaled (it would otherwise delete it after its grace period).

An entry holds what the row holds (ids, file location, times, size, digest, status): no
caller number, no name. Its owner is the journal itself: it is deleted when the row is
written or the case is found not to exist.

Layout: ``<state>/spool/audio-rows/<audio id>.<kind>.json``. Synchronous; called from worker
threads.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

from storage.codec import BadLine, decode_record, encode_record
from storage.events import RecordingCompleted, VoiceMessageSaved

log = logging.getLogger(__name__)

Audio = RecordingCompleted | VoiceMessageSaved
_KINDS: dict[str, type[RecordingCompleted] | type[VoiceMessageSaved]] = {
    "recording": RecordingCompleted,
    "voice": VoiceMessageSaved,
}


def audio_id(event: Audio) -> uuid.UUID:
    return event.recording_id if isinstance(event, RecordingCompleted) else event.voice_message_id


def _kind(event: Audio) -> str:
    return "recording" if isinstance(event, RecordingCompleted) else "voice"


class RowJournal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def in_state(cls, state_dir: Path) -> RowJournal:
        return cls(state_dir / "spool" / "audio-rows")

    def _path(self, event: Audio) -> Path:
        return self.directory / f"{audio_id(event)}.{_kind(event)}.json"

    def keep(self, event: Audio) -> None:
        """Write the entry durably (returns only once it is on disk)."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        final = self._path(event)
        temp = final.with_suffix(".tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, encode_record(event))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, final)
        _fsync_dir(self.directory)

    def drop(self, event: Audio) -> None:
        """Forget the entry: the row is in the table (or can never be)."""
        try:
            self._path(event).unlink()
        except FileNotFoundError:
            return
        _fsync_dir(self.directory)

    def pending(self) -> list[Audio]:
        """Every journaled row, oldest file first; unreadable entries are logged and left."""
        found: list[tuple[float, Audio]] = []
        for path in self._entries():
            kind = path.name.split(".")[1]
            try:
                event = decode_record(path.read_bytes(), _KINDS[kind])
                found.append((path.stat().st_mtime, event))
            except (OSError, KeyError, BadLine) as exc:
                log.error("audio-row journal: entry %s unreadable (%s): left", path.name, exc)
        return [event for _, event in sorted(found, key=lambda pair: pair[0])]

    def locations(self) -> set[str]:
        """The store locations of the journaled rows (files the sweeper must keep)."""
        return {event.location for event in self.pending()}

    def _entries(self) -> list[Path]:
        try:
            return [p for p in self.directory.iterdir() if p.name.endswith(".json")]
        except FileNotFoundError:
            return []


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
