"""Recording a bridged conversation (both parties, one file) with pause and resume.

One :class:`BridgeRecording` per recorded bridge, made by :meth:`BridgeRecorder.start` and
ended by :meth:`BridgeRecorder.finish`::

    start ──POST /bridges/{id}/record──> live ──pause/resume (API)──> stop ──> RecordingFinished
      │ (refused)                                                         │  or RecordingFailed
      v                                                                   v     or no event
    row: failed, "could not start"           finalise into the AudioStore ──> row: completed
                                                   (missing/unreadable) ──> row: failed + reason

Every recording that was asked for ends as exactly one row (``RecordingCompleted`` with
status completed or failed): never a silent gap. Paused audio is cut by Asterisk (the file is
shorter by the pauses); the pauses are kept in the row as offsets from the recording's start
on the wall clock. :class:`LiveRecordings` finds a case's live recording for the HTTP API.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ivr.ari.call import Call
from ivr.ari.errors import AriError, ChannelGone
from ivr.clock import Clock
from recording.errors import NotRecording, PauseConflict, RecordingLost
from recording.finalise import Finaliser, recording_name
from recording.store import AudioKind
from storage.events import AudioStatus, EventSink, RecordingCompleted, RecordingPause

log = logging.getLogger(__name__)


@dataclass
class BridgeRecording:
    """A live (or just ended) bridge recording and its pause history."""

    call: Call  # the call whose event queue gets the Recording* events
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
            await _live(rec, "POST", "pause")
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
            await _live(rec, "DELETE", "pause")
            self.close_pause(rec)
            log.info("[%s] recording %s resumed", case_id, rec.name)
        return rec

    def close_pause(self, rec: BridgeRecording) -> None:
        if rec.paused_since is not None:
            rec.pauses.append(RecordingPause(rec.paused_since, self._offset(rec)))
            rec.paused_since = None


def _secs(rec: BridgeRecording) -> float:
    return 0.0 if rec.paused_since is None else rec.paused_since.total_seconds()


async def _live(rec: BridgeRecording, method: str, action: str) -> None:
    try:
        await rec.call.rest.request(method, f"/recordings/live/{rec.name}/{action}")
    except ChannelGone:
        raise NotRecording(rec.case_id) from None


class BridgeRecorder:
    """Starts bridge recordings and turns each one's end into exactly one row."""

    def __init__(
        self,
        finaliser: Finaliser,
        sink: EventSink,
        clock: Clock,
        live: LiveRecordings,
        *,
        finish_timeout: float = 10.0,
    ) -> None:
        self._finaliser = finaliser
        self._sink = sink
        self._clock = clock
        self.live = live
        self._finish_timeout = finish_timeout

    async def start(
        self,
        call: Call,
        bridge_id: str,
        *,
        case_id: uuid.UUID,
        tenant_id: uuid.UUID,
        notice_played_at: datetime | None = None,
    ) -> BridgeRecording | None:
        """Start recording the bridge; None (and a failed row) when Asterisk refuses."""
        recording_id = uuid.uuid4()
        name = recording_name("rec", recording_id, case_id)
        call.register_recording(name)
        try:
            await call.rest.request(
                "POST",
                f"/bridges/{bridge_id}/record",
                params={
                    "name": name,
                    "format": "wav",
                    "ifExists": "fail",
                    "terminateOn": "none",
                    "maxDurationSeconds": 0,
                    "maxSilenceSeconds": 0,
                    "beep": False,
                },
            )
        except AriError as exc:
            call.unregister_recording(name)
            log.error("[%s] cannot start recording bridge %s: %s", case_id, bridge_id, exc)
            self._failed_without_audio(
                case_id, tenant_id, recording_id, name, f"could not start: {exc}", notice_played_at
            )
            return None
        rec = BridgeRecording(
            call=call,
            bridge_id=bridge_id,
            name=name,
            case_id=case_id,
            tenant_id=tenant_id,
            recording_id=recording_id,
            started_at=self._clock(),
            notice_played_at=notice_played_at,
        )
        self.live.add(rec)
        log.info("[%s] recording bridge %s as %s", case_id, bridge_id, name)
        return rec

    async def stop(self, rec: BridgeRecording) -> None:
        """Ask Asterisk to stop (at once, before the parties are hung up); idempotent."""
        async with rec.lock:
            if rec.stopped:
                return
            rec.stopped = True
            self.live.close_pause(rec)
            try:
                await rec.call.rest.request("POST", f"/recordings/live/{rec.name}/stop")
            except ChannelGone:
                log.info("[%s] recording %s had already ended", rec.case_id, rec.name)
            except AriError as exc:
                log.warning("[%s] stopping recording %s: %s", rec.case_id, rec.name, exc)

    async def finish(self, rec: BridgeRecording) -> RecordingCompleted:
        """Stop (if not yet), wait for Asterisk's end event, finalise, emit the row."""
        try:
            await self.stop(rec)
            failure: str | None = None
            try:
                event = await rec.call.wait_recording(rec.name, timeout=self._finish_timeout)
            except TimeoutError:
                failure = f"no end of recording from Asterisk within {self._finish_timeout:g}s"
            except asyncio.CancelledError:
                self.abandon(rec, "the controller stopped during the recording")
                raise
            else:
                if event.get("type") == "RecordingFailed":
                    cause = (event.get("recording") or {}).get("cause") or "unknown cause"
                    failure = f"Asterisk: recording failed ({cause})"
            return await self._row(rec, failure)
        finally:
            rec.call.unregister_recording(rec.name)
            self.live.remove(rec)

    def abandon(self, rec: BridgeRecording, reason: str) -> RecordingCompleted:
        """The flow is being torn down (controller shutdown): a failed row, no waiting."""
        rec.stopped = True
        self.live.close_pause(rec)
        self.live.remove(rec)
        rec.call.unregister_recording(rec.name)
        return self._failed_without_audio(
            rec.case_id, rec.tenant_id, rec.recording_id, rec.name, reason, rec.notice_played_at,
            started_at=rec.started_at, pauses=tuple(rec.pauses),
        )  # fmt: skip

    async def _row(self, rec: BridgeRecording, failure: str | None) -> RecordingCompleted:
        at = self._clock()
        try:
            done = await self._finaliser.finalise(
                rec.name, AudioKind.RECORDING, rec.tenant_id, rec.recording_id, at
            )
        except RecordingLost as exc:
            reason = exc.reason if failure is None else f"{failure}; {exc.reason}"
            log.error("[%s] recording %s failed: %s", rec.case_id, rec.name, reason)
            return self._failed_without_audio(
                rec.case_id, rec.tenant_id, rec.recording_id, rec.name, reason,
                rec.notice_played_at, started_at=rec.started_at, pauses=tuple(rec.pauses), at=at,
            )  # fmt: skip
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

    def _failed_without_audio(
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
