"""Bridger + BridgeRecorder against FakeAri: the bridge is recorded after both parties are in
it, pauses are kept, and every recording ends as exactly one row, completed or failed."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from ivr.ari.call import Call
from ivr.ari.dispatcher import Dispatcher
from ivr.ari.errors import AriHttpError
from ivr.telephony.bridging import Bridger, RecordingPolicy
from ivr.telephony.recorder import BridgeRecorder
from recording.bridge import LiveRecordings
from recording.errors import NotRecording, PauseConflict
from recording.finalise import EMPTY_SHA256, Finaliser
from recording.store import AudioStore
from storage.events import AudioStatus, RecordingCompleted, RecordingPause
from tests.unit.fake_ari import FakeAri
from tests.unit.flows.support_recording import T0, TENANT, Clock, Sink, wav

NOTICE_AT = T0 - timedelta(seconds=5)
CASE = uuid.UUID(int=7)
BRIDGE = "b-c1"
RECORD = RecordingPolicy(True, None, NOTICE_AT)


@dataclass
class Harness:
    fake: FakeAri
    sink: Sink
    clock: Clock
    live: LiveRecordings
    store: AudioStore
    spool: Path
    names: list[str] = field(default_factory=list)

    def requests(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p, _, _ in self.fake.requests]

    def only_row(self) -> RecordingCompleted:
        (row,) = [e for e in self.sink.events if isinstance(e, RecordingCompleted)]
        return row


def make(
    tmp_path: Path,
    *,
    policy: RecordingPolicy = RECORD,
    audio: float | None = 2.0,
    record: Any = None,
    on_stop: Callable[[Harness, str], Any] | None = None,
    finish_timeout: float = 1.0,
) -> Harness:
    fake = FakeAri(default_duration=0.01)
    clock = Clock()
    sink = Sink()
    spool = tmp_path / "spool"
    spool.mkdir()
    store = AudioStore(tmp_path / "store")
    live = LiveRecordings(clock)
    h = Harness(fake, sink, clock, live, store, spool)
    recorder = BridgeRecorder(
        Finaliser(store, spool), sink, clock, live, finish_timeout=finish_timeout
    )
    bridger = Bridger(recorder)

    def start_recording(params: dict[str, Any], _json: Any) -> dict[str, Any]:
        name = str(params["name"])
        h.names.append(name)
        if audio is not None:
            (spool / f"{name}.wav").write_bytes(wav(audio))
        fake.recordings[name] = {"name": name, "format": "wav", "channel_id": f"bridge:{BRIDGE}"}
        fake.set_response("DELETE", f"/recordings/live/{name}/pause", None)
        if on_stop is not None:
            fake.set_response(
                "POST", f"/recordings/live/{name}/stop", lambda p, j: on_stop(h, name)
            )
        return {"name": name, "state": "recording"}

    fake.set_response("POST", f"/bridges/{BRIDGE}", {"id": BRIDGE})
    fake.set_response("POST", f"/bridges/{BRIDGE}/addChannel", None)
    fake.set_response("DELETE", f"/bridges/{BRIDGE}", None)
    fake.set_response("POST", f"/bridges/{BRIDGE}/record", record or start_recording)

    dispatcher: Dispatcher

    async def handle(call: Call) -> None:
        leg = dispatcher.adopt("a1")
        await fake.request("POST", "/channels", params={"channelId": "a1"})
        fake.start_call("a1", args=["agent-leg"])  # the agent answered
        await leg.wait_event({"StasisStart"}, timeout=1)
        await bridger.bridge(call, leg, case_id=CASE, tenant_id=TENANT, policy=policy)

    dispatcher = Dispatcher(fake, handle, app="linja")
    fake.attach(dispatcher)
    return h


async def test_records_after_bridging_keeps_pauses_and_finalises(tmp_path: Path) -> None:
    h = make(tmp_path)
    h.fake.start_call("c1", args=["menu", "demo"])
    await h.fake.wait_until(lambda: len(h.live) == 1)
    with pytest.raises(NotRecording):
        await h.live.pause(uuid.uuid4())
    with pytest.raises(PauseConflict):
        await h.live.resume(CASE)
    h.clock.advance(1)
    await h.live.pause(CASE)
    with pytest.raises(PauseConflict):
        await h.live.pause(CASE)
    h.clock.advance(2)
    await h.live.resume(CASE)
    h.clock.advance(1.5)
    h.fake.hangup("c1")
    await h.fake.wait_calls_done()

    row = h.only_row()
    (name,) = h.names
    assert row.status == AudioStatus.COMPLETED and row.failure_reason is None
    assert (row.case_id, row.name) == (CASE, name)
    assert row.pauses == (RecordingPause(timedelta(seconds=1), timedelta(seconds=3)),)
    assert row.started_at == T0 and row.notice_played_at == NOTICE_AT
    assert row.completed_at == T0 + timedelta(seconds=4.5)
    assert row.duration == timedelta(seconds=2)
    data = h.store.path(row.location).read_bytes()
    assert (len(data), hashlib.sha256(data).hexdigest()) == (row.size_bytes, row.sha256)
    assert not (h.spool / f"{name}.wav").exists()  # moved, not copied
    # ... once the row was kept (a kill -9 before leaves the file to the recovery)
    assert (CASE, h.sink.events.index(row) + 1) in h.sink.durable_asked
    reqs = h.requests()
    assert reqs.index(("POST", f"/bridges/{BRIDGE}/addChannel")) < reqs.index(
        ("POST", f"/bridges/{BRIDGE}/record")
    )
    assert ("POST", f"/recordings/live/{name}/pause") in reqs
    assert ("DELETE", f"/recordings/live/{name}/pause") in reqs
    # Stopped as soon as the caller left, before the agent was hung up.
    assert reqs.index(("POST", f"/recordings/live/{name}/stop")) < reqs.index(
        ("DELETE", "/channels/a1")
    )
    assert len(h.live) == 0
    with pytest.raises(NotRecording):
        await h.live.pause(CASE)


async def test_a_pause_still_open_at_the_end_is_closed_then(tmp_path: Path) -> None:
    h = make(tmp_path)
    h.fake.start_call("c1", args=["menu", "demo"])
    await h.fake.wait_until(lambda: len(h.live) == 1)
    h.clock.advance(1)
    await h.live.pause(CASE)
    h.clock.advance(2)
    h.fake.hangup("c1")
    await h.fake.wait_calls_done()
    assert h.only_row().pauses == (RecordingPause(timedelta(seconds=1), timedelta(seconds=3)),)


async def test_no_recording_without_the_policy(tmp_path: Path) -> None:
    h = make(tmp_path, policy=RecordingPolicy())
    h.fake.start_call("c1", args=["menu", "demo"])
    await h.fake.wait_until(lambda: ("POST", f"/bridges/{BRIDGE}/addChannel") in h.requests())
    h.fake.hangup("c1")
    await h.fake.wait_calls_done()
    assert h.sink.events == []
    assert ("POST", f"/bridges/{BRIDGE}/record") not in h.requests()
    assert ("DELETE", "/channels/a1") in h.requests()


async def test_agent_hears_the_notice_before_joining_when_replayed(tmp_path: Path) -> None:
    h = make(tmp_path, policy=RecordingPolicy(True, "sound:notice", NOTICE_AT))
    h.fake.start_call("c1", args=["menu", "demo"])
    await h.fake.wait_until(lambda: len(h.live) == 1)
    h.fake.hangup("a1")  # the agent ends the call this time
    await h.fake.wait_calls_done()
    assert h.fake.media_played("a1") == ["sound:notice"]
    assert h.only_row().status == AudioStatus.COMPLETED
    assert ("DELETE", "/channels/c1") in h.requests()  # the caller is hung up too


async def test_refused_start_is_a_failed_row_and_the_call_goes_on(tmp_path: Path) -> None:
    refused = AriHttpError(500, "POST", f"/bridges/{BRIDGE}/record", "Internal Server Error")
    h = make(tmp_path, record=refused)
    h.fake.start_call("c1", args=["menu", "demo"])
    await h.fake.wait_until(lambda: h.sink.events != [])
    assert h.fake.channels.keys() >= {"c1", "a1"}  # still talking
    h.fake.hangup("c1")
    await h.fake.wait_calls_done()
    row = h.only_row()
    assert row.status == AudioStatus.FAILED
    assert row.failure_reason is not None and "could not start" in row.failure_reason
    assert "HTTP 500" in row.failure_reason
    assert (row.size_bytes, row.sha256, row.duration) == (0, EMPTY_SHA256, timedelta(0))
    assert not h.store.exists(row.location)


async def test_asterisk_failure_is_a_failed_row_keeping_the_audio(tmp_path: Path) -> None:
    def fail(h: Harness, name: str) -> None:
        asyncio.get_running_loop().call_soon(partial(h.fake.finish_recording, name, failed=True))

    h = make(tmp_path, on_stop=fail)
    h.fake.start_call("c1", args=["menu", "demo"])
    await h.fake.wait_until(lambda: len(h.live) == 1)
    h.fake.hangup("c1")
    await h.fake.wait_calls_done()
    row = h.only_row()
    assert row.status == AudioStatus.FAILED
    assert row.failure_reason == "Asterisk: recording failed (fake failure)"
    assert row.duration == timedelta(seconds=2) and h.store.exists(row.location)


async def test_no_file_from_asterisk_is_a_failed_row(tmp_path: Path) -> None:
    h = make(tmp_path, audio=None)
    h.fake.start_call("c1", args=["menu", "demo"])
    await h.fake.wait_until(lambda: len(h.live) == 1)
    h.fake.hangup("c1")
    await h.fake.wait_calls_done()
    row = h.only_row()
    assert row.status == AudioStatus.FAILED
    assert row.failure_reason == f"Asterisk left no file {h.names[0]}.wav"
    assert row.size_bytes == 0


async def test_no_end_event_is_a_failed_row_after_the_timeout(tmp_path: Path) -> None:
    h = make(tmp_path, on_stop=lambda h, name: None, finish_timeout=0.05)
    h.fake.start_call("c1", args=["menu", "demo"])
    await h.fake.wait_until(lambda: len(h.live) == 1)
    h.fake.hangup("c1")
    await h.fake.wait_calls_done()
    row = h.only_row()
    assert row.status == AudioStatus.FAILED
    assert row.failure_reason == "no end of recording from Asterisk within 0.05s"
    assert h.store.exists(row.location)  # what Asterisk wrote is kept


async def test_controller_shutdown_mid_recording_leaves_a_failed_row(tmp_path: Path) -> None:
    h = make(tmp_path)
    h.fake.start_call("c1", args=["menu", "demo"])
    await h.fake.wait_until(lambda: len(h.live) == 1)
    dispatcher = h.fake._dispatcher
    assert dispatcher is not None
    await dispatcher.shutdown(timeout=0.01)
    row = h.only_row()
    assert row.status == AudioStatus.FAILED
    assert row.failure_reason == "the controller stopped during the recording"
    assert len(h.live) == 0


async def test_caller_gone_while_being_put_through_is_a_hang_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    h = make(tmp_path)

    def gone(params: dict[str, Any], _json: Any) -> None:
        h.fake.hangup("c1")
        raise AriHttpError(422, "POST", f"/bridges/{BRIDGE}/addChannel", "Channel not found")

    h.fake.set_response("POST", f"/bridges/{BRIDGE}/addChannel", gone)
    h.fake.start_call("c1", args=["menu", "demo"])
    await h.fake.wait_calls_done()
    assert h.sink.events == []  # nothing was recorded, nothing to report
    assert ("DELETE", "/channels/a1") in h.requests()  # the agent is not left ringing/talking
    assert ("POST", f"/bridges/{BRIDGE}/record") not in h.requests()
    assert "call flow failed" not in caplog.text
    assert "gone before the bridge" in caplog.text


async def test_a_row_not_kept_yet_leaves_asterisks_file_for_the_recovery(tmp_path: Path) -> None:
    h = make(tmp_path)
    h.sink.keeps = False
    h.fake.start_call("c1", args=["menu", "demo"])
    await h.fake.wait_until(lambda: len(h.live) == 1)
    h.fake.hangup("c1")
    await h.fake.wait_calls_done()
    row = h.only_row()
    (name,) = h.names
    assert row.status == AudioStatus.COMPLETED and h.store.path(row.location).exists()
    assert (h.spool / f"{name}.wav").exists()
