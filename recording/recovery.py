"""Recordings left behind by a controller that died (``kill -9``, power loss).

A recording is finalised by the flow that started it; if the controller dies first, the
file stays in Asterisk's recording directory and no row is written. Names carry both ids
(:func:`recording.finalise.recording_name`), so :class:`OrphanRecovery` can still move such a
file into the audio store and write its row, marked failed with the reason, linked to its
case: a recording is never silently missing. A file whose row is there already (audio is
stored and its row kept before its flow removes Asterisk's file,
:meth:`~recording.finalise.Finaliser.release`) is only removed. A file counts as left
behind when it is ours, nobody in this controller is recording it, and Asterisk has not
written to it for ``min_age`` seconds (a live recording, even a silent one, is written
continuously; a paused bridge recording is in the live set). Files whose case is not in
the database yet (its row may still be spooled while Postgres is down) wait for a later
round.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable

from recording.errors import NoAudio, RecordingLost
from recording.finalise import Finalised, Finaliser, parse_recording_name
from recording.store import AudioKind
from storage.clock import Clock
from storage.errors import NotFound, StorageError
from storage.events import AudioStatus, EventSink, RecordingCompleted, VoiceMessageSaved

log = logging.getLogger(__name__)

REASON = "the controller stopped during the recording; the audio up to then is kept"
NOTHING_KEPT = "nothing of the recording could be kept"

TenantOf = Callable[[uuid.UUID], Awaitable[uuid.UUID]]  # raises NotFound
Kept = Callable[[AudioKind, uuid.UUID], Awaitable[bool]]  # whether the audio's row is there


class OrphanRecovery:
    def __init__(
        self,
        finaliser: Finaliser,
        sink: EventSink,
        tenant_of: TenantOf,
        clock: Clock,
        *,
        live: Callable[[], Iterable[str]] = tuple,
        min_age: float = 120.0,
        wall: Callable[[], float] = time.time,
        kept: Kept | None = None,
    ) -> None:
        self._kept = kept
        self._finaliser = finaliser
        self._sink = sink
        self._tenant_of = tenant_of
        self._clock = clock
        self._live = live
        self._min_age = min_age
        self._wall = wall

    def _candidates(self) -> list[str]:
        spool = self._finaliser.spool_dir
        if not spool.is_dir():
            return []
        live = set(self._live())
        now = self._wall()
        names = []
        for path in spool.glob("*.wav"):
            if parse_recording_name(path.stem) is None or path.stem in live:
                continue
            try:
                age = now - path.stat().st_mtime
            except FileNotFoundError:
                continue  # finalised meanwhile
            if age >= self._min_age:
                names.append(path.stem)
        return sorted(names)

    async def run_once(self) -> int:
        """Recover what was left behind; returns how many files got a row."""
        recovered = 0
        for name in await asyncio.to_thread(self._candidates):
            parsed = parse_recording_name(name)
            assert parsed is not None
            kind, audio_id, case_id = parsed
            try:
                tenant_id = await self._tenant_of(case_id)
            except NotFound:
                log.warning("[%s] left-behind %s: case not in the database yet", case_id, name)
                continue
            except StorageError as exc:
                log.warning("recovery paused: database unavailable (%s)", type(exc).__name__)
                return recovered
            if self._kept is not None and await self._kept(kind, audio_id):
                # Stored, and its row kept, by a flow stopped before it removed the file
                # (Finaliser.release): only the file is left to remove.
                await asyncio.to_thread(self._finaliser.discard, name)
                log.info("[%s] left-behind %s was kept already: its file removed", case_id, name)
                continue
            at = self._clock()
            try:
                done = await self._finaliser.finalise(name, kind, tenant_id, audio_id, at)
            except NoAudio as exc:
                # Nothing to keep (Asterisk died before writing any audio, or not a wav): the
                # row says so (unless the flow wrote one already) and the file goes, so it is
                # neither retried forever nor kept outside retention.
                done = Finalised(self._finaliser.placeholder(kind, tenant_id, audio_id, at))
                reason = f"{NOTHING_KEPT}: {exc.reason}"
                await asyncio.to_thread(self._finaliser.discard, name)
                log.warning("[%s] left-behind %s has no audio: %s", case_id, name, exc.reason)
            except RecordingLost as exc:  # e.g. the store is not writable: try again later
                log.error("[%s] left-behind %s cannot be kept: %s", case_id, name, exc.reason)
                continue
            else:
                reason = done.failure(REASON) or REASON
                log.warning(
                    "[%s] left-behind %s recovered into the store (%.1fs): marked failed",
                    case_id, name, done.duration.total_seconds(),
                )  # fmt: skip
            size, sha = done.stored.size_bytes, done.stored.sha256
            where, took = done.stored.location, done.duration
            failed = AudioStatus.FAILED
            if kind is AudioKind.RECORDING:
                self._sink.emit(
                    RecordingCompleted(
                        case_id, audio_id, name, where, at, took, size, sha, failed, reason
                    )
                )
            else:
                self._sink.emit(
                    VoiceMessageSaved(
                        case_id, audio_id, name, where, at, took, size, sha, failed, reason
                    )
                )
            recovered += 1
        return recovered

    async def run(self, interval: float = 60.0) -> None:
        """Every ``interval`` seconds until cancelled."""
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("recovery of left-behind recordings failed; trying again later")
            await asyncio.sleep(interval)
