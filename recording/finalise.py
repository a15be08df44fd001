"""Moves a finished Asterisk recording into the audio store and measures it.

Asterisk writes ``<name>.wav`` into its recording directory (``Settings.recordings_inner``,
seen from the host through ``Settings.in_root``). :class:`Finaliser` checks the name, repairs
the header of a file Asterisk never closed (:mod:`recording.wavrepair`), reads the duration,
and hands the file to :meth:`AudioStore.finalise` (temp name, fsync, rename; the source is
removed after). File work runs in a thread so a large file never stalls the event loop.
Anything that goes wrong is a :class:`RecordingLost` with the reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import uuid
import wave
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from recording.errors import NoAudio, RecordingLost
from recording.store import AudioKind, AudioStore, StoredAudio, location_for
from recording.wavrepair import repair_unclosed_wav
from storage.events import DurableSink

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,120}$")
_OURS = re.compile(r"^(?P<kind>rec|vm)-(?P<audio>[0-9a-f]{32})-(?P<case>[0-9a-f]{32})$")
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
KINDS = {"rec": AudioKind.RECORDING, "vm": AudioKind.VOICE_MESSAGE}


def recording_name(prefix: str, audio_id: uuid.UUID, case_id: uuid.UUID) -> str:
    """The name Asterisk records under: ``rec-<recording id>-<case id>`` or ``vm-...``. Both
    ids are in it so a file left behind by a crashed controller can still be put in the
    store and linked to its case (:mod:`recording.recovery`)."""
    if prefix not in KINDS:
        raise ValueError(f"unknown recording prefix {prefix!r}")
    return f"{prefix}-{audio_id.hex}-{case_id.hex}"


def parse_recording_name(name: str) -> tuple[AudioKind, uuid.UUID, uuid.UUID] | None:
    """(kind, audio id, case id) of a name made by :func:`recording_name`; None otherwise."""
    m = _OURS.match(name)
    if m is None:
        return None
    return KINDS[m["kind"]], uuid.UUID(m["audio"]), uuid.UUID(m["case"])


REPAIRED = "Asterisk never closed the file (it stopped mid-recording); the audio up to then is kept"


@dataclass(frozen=True, slots=True)
class Finalised:
    stored: StoredAudio
    duration: timedelta = timedelta(0)
    repaired: bool = False  # the header of an unclosed file was repaired

    def failure(self, failure: str | None) -> str | None:
        """The row's failure reason: ``failure``, plus a note when the header was repaired."""
        if not self.repaired:
            return failure
        return REPAIRED if failure is None else f"{failure}; {REPAIRED}"


def check_name(name: str) -> str:
    """A recording name Asterisk gets from us: letters, digits, ``_`` and ``-`` only."""
    if not _NAME.match(name):
        raise ValueError(f"bad recording name {name[:130]!r}")
    return name


def wav_seconds(path: Path) -> float:
    """Duration from the wav header; RecordingLost when it is not a readable wav."""
    try:
        with wave.open(str(path), "rb") as w:
            rate = w.getframerate()
            return w.getnframes() / rate if rate else 0.0
    except (wave.Error, EOFError, OSError) as exc:
        raise NoAudio(f"unreadable wav {path.name}: {exc}") from None


class Finaliser:
    def __init__(self, store: AudioStore, spool_dir: Path) -> None:
        self.store = store
        self.spool_dir = spool_dir  # host path of Asterisk's recording directory

    def source(self, name: str) -> Path:
        return self.spool_dir / f"{check_name(name)}.wav"

    def placeholder(
        self, kind: AudioKind, tenant_id: uuid.UUID, audio_id: uuid.UUID, at: datetime
    ) -> StoredAudio:
        """Where the audio would have gone, for a failed row without audio (no file)."""
        return StoredAudio(location_for(kind, tenant_id, audio_id, at), 0, EMPTY_SHA256)

    def discard(self, name: str) -> None:
        """Remove a file Asterisk left: one that holds no audio worth keeping, or one kept
        in the store whose row is kept too."""
        self.source(name).unlink(missing_ok=True)

    async def release(self, name: str, sink: DurableSink, case_id: uuid.UUID) -> bool:
        """Asterisk's file of audio stored with ``keep_source`` whose row was just emitted to
        ``sink``: removed once the row is kept (database, fsync'd spool or journal); else
        left, for :mod:`recording.recovery`, so a crash never leaves a stored file without
        its row. Whether it was removed."""
        if await sink.durable(case_id):
            await asyncio.to_thread(self.discard, name)
            return True
        log.warning("[%s] the row of %s is not kept yet: its file is left", case_id, name)
        return False

    def _finalise(
        self,
        name: str,
        kind: AudioKind,
        tenant_id: uuid.UUID,
        audio_id: uuid.UUID,
        at: datetime,
        keep_source: bool = False,
    ) -> Finalised:
        src = self.source(name)
        if not src.is_file():
            raise NoAudio(f"Asterisk left no file {src.name}")
        try:
            repaired = repair_unclosed_wav(src)
        except OSError as exc:
            raise RecordingLost(f"cannot read {src.name}: {exc}") from None
        seconds = wav_seconds(src)
        try:
            stored = self.store.finalise(src, kind, tenant_id, audio_id, at, move=not keep_source)
        except OSError as exc:
            raise RecordingLost(f"cannot move {src.name} into the audio store: {exc}") from None
        return Finalised(stored, timedelta(seconds=round(seconds, 3)), repaired)

    async def finalise(
        self,
        name: str,
        kind: AudioKind,
        tenant_id: uuid.UUID,
        audio_id: uuid.UUID,
        at: datetime,
        *,
        keep_source: bool = False,
    ) -> Finalised:
        """``keep_source``: Asterisk's file stays until :meth:`discard` (once the row is
        kept), so a crash before that leaves it to :mod:`recording.recovery`."""
        return await asyncio.to_thread(
            self._finalise, name, kind, tenant_id, audio_id, at, keep_source
        )
