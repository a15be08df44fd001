"""Recording a bridged conversation (both parties, one file) on ARI.

:meth:`BridgeRecorder.start` records a :class:`~ivr.ari.bridge.Bridge` and returns an
:class:`ActiveRecording`; :meth:`BridgeRecorder.finish` stops it, waits for Asterisk's end
event on the call that receives the recording's events and turns the end into exactly one
row (:class:`recording.bridge.RecordingRows`). The live state, its pauses (driven by the
HTTP API through :class:`recording.bridge.LiveRecordings`) and the rows are the domain's;
this module holds the ARI half: the handles, their errors, the event wait.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from ivr.ari.bridge import Bridge
from ivr.ari.call import Call
from ivr.ari.errors import AriError, ChannelGone
from ivr.ari.recordings import LiveRecording
from recording.bridge import BridgeRecording, LiveRecordings, RecordingRows
from recording.errors import NotRecording
from recording.finalise import Finaliser, recording_name
from storage.clock import Clock
from storage.events import DurableSink, RecordingCompleted

__all__ = ["ActiveRecording", "AriLiveControl", "BridgeRecorder"]

log = logging.getLogger(__name__)


class AriLiveControl:
    """:class:`recording.bridge.LiveControl` over an ARI live recording: a recording
    Asterisk no longer has (404) is ``NotRecording``; other ARI errors stay as they are."""

    def __init__(self, handle: LiveRecording, case_id: uuid.UUID) -> None:
        self._handle = handle
        self._case_id = case_id

    async def pause(self) -> None:
        try:
            await self._handle.pause()
        except ChannelGone:
            raise NotRecording(self._case_id) from None

    async def unpause(self) -> None:
        try:
            await self._handle.unpause()
        except ChannelGone:
            raise NotRecording(self._case_id) from None


@dataclass
class ActiveRecording:
    """A started bridge recording: its domain state, its ARI handle and the call whose
    event queue gets its Recording* events."""

    state: BridgeRecording
    handle: LiveRecording
    leg: Call


class BridgeRecorder:
    """Starts bridge recordings and turns each one's end into exactly one row."""

    def __init__(
        self,
        finaliser: Finaliser,
        sink: DurableSink,
        clock: Clock,
        live: LiveRecordings,
        *,
        finish_timeout: float = 10.0,
    ) -> None:
        self._rows = RecordingRows(finaliser, sink, clock)
        self._clock = clock
        self.live = live
        self._finish_timeout = finish_timeout

    async def start(
        self,
        call: Call,
        bridge: Bridge,
        *,
        case_id: uuid.UUID,
        tenant_id: uuid.UUID,
        notice_played_at: datetime | None = None,
    ) -> ActiveRecording | None:
        """Start recording the bridge, its events to ``call``; None (and a failed row) when
        Asterisk refuses."""
        recording_id = uuid.uuid4()
        name = recording_name("rec", recording_id, case_id)
        call.register_recording(name)
        try:
            handle = await bridge.record(name)
        except AriError as exc:
            call.unregister_recording(name)
            log.error("[%s] cannot start recording bridge %s: %s", case_id, bridge.id, exc)
            self._rows.failed_without_audio(
                case_id, tenant_id, recording_id, name, f"could not start: {exc}", notice_played_at
            )
            return None
        state = BridgeRecording(
            control=AriLiveControl(handle, case_id),
            bridge_id=bridge.id,
            name=name,
            case_id=case_id,
            tenant_id=tenant_id,
            recording_id=recording_id,
            started_at=self._clock(),
            notice_played_at=notice_played_at,
        )
        self.live.add(state)
        log.info("[%s] recording bridge %s as %s", case_id, bridge.id, name)
        return ActiveRecording(state, handle, call)

    async def stop(self, rec: ActiveRecording) -> None:
        """Ask Asterisk to stop (at once, before the parties are hung up); idempotent."""
        state = rec.state
        async with state.lock:
            if state.stopped:
                return
            state.stopped = True
            self.live.close_pause(state)
            try:
                await rec.handle.stop()
            except ChannelGone:
                log.info("[%s] recording %s had already ended", state.case_id, state.name)
            except AriError as exc:
                log.warning("[%s] stopping recording %s: %s", state.case_id, state.name, exc)

    async def finish(self, rec: ActiveRecording) -> RecordingCompleted:
        """Stop (if not yet), wait for Asterisk's end event, finalise, emit the row."""
        state = rec.state
        try:
            await self.stop(rec)
            failure: str | None = None
            try:
                event = await rec.leg.wait_recording(state.name, timeout=self._finish_timeout)
            except TimeoutError:
                failure = f"no end of recording from Asterisk within {self._finish_timeout:g}s"
            except asyncio.CancelledError:
                self.abandon(rec, "the controller stopped during the recording")
                raise
            else:
                if event.get("type") == "RecordingFailed":
                    cause = (event.get("recording") or {}).get("cause") or "unknown cause"
                    failure = f"Asterisk: recording failed ({cause})"
            return await self._rows.completed(state, failure)
        finally:
            rec.leg.unregister_recording(state.name)
            self.live.remove(state)

    def abandon(self, rec: ActiveRecording, reason: str) -> RecordingCompleted:
        """The flow is being torn down (controller shutdown): a failed row, no waiting."""
        state = rec.state
        state.stopped = True
        self.live.close_pause(state)
        self.live.remove(state)
        rec.leg.unregister_recording(state.name)
        return self._rows.failed(state, reason)
