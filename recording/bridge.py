"""Bridge recordings as the domain sees them: live state with pauses, and their rows.

One :class:`BridgeRecording` per recorded bridge. Telephony (:mod:`ivr.telephony.recorder`)
starts and stops it on ARI and hands its end here; this module keeps the rest::

    start ──(telephony: bridge record)──> live ──pause/resume (API)──> stop ──> end event
      │ (refused)                                                         │  or failure
      v                                                                   v     or no event
    row: failed, "could not start"           finalise into the AudioStore ──> row: completed
                                                   (missing/unreadable) ──> row: failed + reason

Every recording that was asked for ends as exactly one row (``RecordingCompleted`` with
status completed or failed, made by :class:`RecordingRows`): never a silent gap. Paused audio
is cut by Asterisk (the file is shorter by the pauses); the pauses are kept in the row as
offsets from the recording's start on the wall clock. :class:`LiveRecordings` finds a case's
live recording for the HTTP API and pauses/resumes it through its :class:`LiveControl`.
Nothing here imports ``ivr``: the telephony side passes its handle in.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from recording.errors import NotRecording, PauseConflict, RecordingLost
from recording.finalise import Finaliser
from recording.store import AudioKind
from storage.clock import Clock
from storage.events import AudioStatus, DurableSink, RecordingCompleted, RecordingPause

log = logging.getLogger(__name__)


class LiveControl(Protocol):
    """Pausing a live recording on the telephony side.

    Both raise :class:`~recording.errors.NotRecording` when the recording no longer exists
    there; any other failure propagates as the telephony side raised it (the HTTP API
    answers it with 502)."""

    async def pause(self) -> None: ...

    async def unpause(self) -> None: ...


@dataclass
class BridgeRecording:
    """A live (or just ended) bridge recording and its pause history."""

    control: LiveControl
    bridge_id: str
    name: str
    case_id: uuid.UUID
    tenant_id: uuid.UUID
    recording_id: uuid.UUID
    started_at: datetime
    notice_played_at: datetime | None
    pauses: list[RecordingPause] = field(default_factory=list)
    paused_since: timedelta | None = None
    stopped: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def paused(self) -> bool:
        return self.paused_since is not None

    def describe(self) -> dict[str, Any]:
        return {
            "case_id": str(self.case_id),
            "recording_id": str(self.recording_id),
            "name": self.name,
            "started_at": self.started_at.isoformat(),
            "paused": self.paused,
            "pauses": [
                {"start": p.start.total_seconds(), "end": p.end.total_seconds()}
                for p in self.pauses
            ],
        }


class LiveRecordings:
    """Live bridge recordings by case id: what the pause/resume API acts on."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._by_case: dict[uuid.UUID, BridgeRecording] = {}

    def add(self, rec: BridgeRecording) -> None:
        self._by_case[rec.case_id] = rec

    def remove(self, rec: BridgeRecording) -> None:
        if self._by_case.get(rec.case_id) is rec:
            del self._by_case[rec.case_id]

    def get(self, case_id: uuid.UUID) -> BridgeRecording:
        rec = self._by_case.get(case_id)
        if rec is None or rec.stopped:
            raise NotRecording(case_id)
        return rec

    def __len__(self) -> int:
        return len(self._by_case)

    def all(self) -> list[BridgeRecording]:
        return [r for r in self._by_case.values() if not r.stopped]

    def _offset(self, rec: BridgeRecording) -> timedelta:
        return max(self._clock() - rec.started_at, timedelta(0))

    async def pause(self, case_id: uuid.UUID) -> BridgeRecording:
        rec = self.get(case_id)
        async with rec.lock:
            if rec.stopped:
                raise NotRecording(case_id)
            if rec.paused:
                raise PauseConflict(f"the recording of case {case_id} is already paused")
            await rec.control.pause()
            rec.paused_since = self._offset(rec)
            log.info("[%s] recording %s paused at %.2fs", case_id, rec.name, _secs(rec))
        return rec

    async def resume(self, case_id: uuid.UUID) -> BridgeRecording:
        rec = self.get(case_id)
        async with rec.lock:
            if rec.stopped:
                raise NotRecording(case_id)
            if rec.paused_since is None:
                raise PauseConflict(f"the recording of case {case_id} is not paused")
            await rec.control.unpause()
            self.close_pause(rec)
            log.info("[%s] recording %s resumed", case_id, rec.name)
        return rec

    def close_pause(self, rec: BridgeRecording) -> None:
        if rec.paused_since is not None:
            rec.pauses.append(RecordingPause(rec.paused_since, self._offset(rec)))
            rec.paused_since = None


def _secs(rec: BridgeRecording) -> float:
    return 0.0 if rec.paused_since is None else rec.paused_since.total_seconds()


class RecordingRows:
    """Turns a bridge recording's end into its one row (emitted to the sink)."""

    def __init__(self, finaliser: Finaliser, sink: DurableSink, clock: Clock) -> None:
        self._finaliser = finaliser
        self._sink = sink
        self._clock = clock

    async def completed(self, rec: BridgeRecording, failure: str | None) -> RecordingCompleted:
        """Finalise the file Asterisk left; completed, or failed with ``failure`` and/or why
        the audio could not be kept."""
        at = self._clock()
        try:
            done = await self._finaliser.finalise(
                rec.name, AudioKind.RECORDING, rec.tenant_id, rec.recording_id, at,
                keep_source=True,
            )  # fmt: skip
        except RecordingLost as exc:
            reason = exc.reason if failure is None else f"{failure}; {exc.reason}"
            log.error("[%s] recording %s failed: %s", rec.case_id, rec.name, reason)
            return self.failed(rec, reason, at=at)
        failure = done.failure(failure)
        event = RecordingCompleted(
            case_id=rec.case_id,
            recording_id=rec.recording_id,
            name=rec.name,
            location=done.stored.location,
            completed_at=at,
            duration=done.duration,
            size_bytes=done.stored.size_bytes,
            sha256=done.stored.sha256,
            status=AudioStatus.COMPLETED if failure is None else AudioStatus.FAILED,
            failure_reason=failure,
            pauses=tuple(rec.pauses),
            started_at=rec.started_at,
            notice_played_at=rec.notice_played_at,
        )
        self._sink.emit(event)
        await self._finaliser.release(rec.name, self._sink, rec.case_id)
        log.info(
            "[%s] recording %s %s: %.2fs, %d bytes, %d pause(s)",
            rec.case_id,
            rec.name,
            event.status,
            done.duration.total_seconds(),
            done.stored.size_bytes,
            len(rec.pauses),
        )
        return event

    def failed(
        self, rec: BridgeRecording, reason: str, *, at: datetime | None = None
    ) -> RecordingCompleted:
        """A failed row without audio for a recording that did start."""
        return self.failed_without_audio(
            rec.case_id, rec.tenant_id, rec.recording_id, rec.name, reason, rec.notice_played_at,
            started_at=rec.started_at, pauses=tuple(rec.pauses), at=at,
        )  # fmt: skip

    def failed_without_audio(
        self,
        case_id: uuid.UUID,
        tenant_id: uuid.UUID,
        recording_id: uuid.UUID,
        name: str,
        reason: str,
        notice_played_at: datetime | None,
        *,
        started_at: datetime | None = None,
        pauses: tuple[RecordingPause, ...] = (),
        at: datetime | None = None,
    ) -> RecordingCompleted:
        at = at or self._clock()
        where = self._finaliser.placeholder(AudioKind.RECORDING, tenant_id, recording_id, at)
        event = RecordingCompleted(
            case_id=case_id,
            recording_id=recording_id,
            name=name,
            location=where.location,
            completed_at=at,
            duration=timedelta(0),
            size_bytes=0,
            sha256=where.sha256,
            status=AudioStatus.FAILED,
            failure_reason=reason[:1000],
            pauses=pauses,
            started_at=started_at,
            notice_played_at=notice_played_at,
        )
        self._sink.emit(event)
        return event
