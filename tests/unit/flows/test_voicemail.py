"""Voice messages against FakeAri: prompt, beep and limits, the message lands linked to the
case whatever ends it (#, hang-up), and a message that could not be kept is a failed row."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from ivr.ari.call import Call
from ivr.ari.dispatcher import Dispatcher
from ivr.ari.errors import AriHttpError, CallHungUp
from ivr.flowdefs.model import VoicemailConfig
from ivr.flows.context import CaseContext
from ivr.texts import Text, text
from recording.finalise import EMPTY_SHA256
from storage.events import (
    AudioStatus,
    CaseEnded,
    CaseOpened,
    Outcome,
    VoiceMessageSaved,
)
from tests.unit.flows.support_recording import (
    T0,
    TENANT,
    RestrictedNumbers,
    World,
    tenant_flows,
    wav,
    world,
)


async def recording_started(w: World) -> str:
    await w.fake.wait_until(lambda: w.fake.recordings)
    (name,) = w.fake.recordings
    return name


async def test_message_from_the_menu_lands_linked_to_the_case(tmp_path: Path) -> None:
    w = await world(tmp_path, tenant_flows(tmp_path))
    w.fake.start_call("c1", args=["menu", "acme"], exten="200")
    await w.fake.wait_until(lambda: "sound:welcome" in w.fake.media_played("c1"))
    w.fake.dtmf("c1", "4")
    name = await recording_started(w)
    (w.spool / f"{name}.wav").write_bytes(wav(3.5))
    w.clock.advance(4)
    w.fake.dtmf("c1", "#")
    w.fake.finish_recording(name)  # Asterisk ends it on '#'
    await w.fake.wait_calls_done()

    (opened,) = w.sink.of(CaseOpened)
    (msg,) = w.sink.of(VoiceMessageSaved)
    assert msg.case_id == opened.case_id
    assert (msg.status, msg.failure_reason, msg.box) == (AudioStatus.COMPLETED, None, "support")
    assert msg.name == name and name.startswith("vm-")
    assert msg.duration == timedelta(seconds=3.5)
    assert msg.completed_at == T0 + timedelta(seconds=4)
    data = w.store.path(msg.location).read_bytes()
    assert (len(data), hashlib.sha256(data).hexdigest()) == (msg.size_bytes, msg.sha256)
    assert msg.location.startswith(f"{TENANT}/voice_messages/2026/11/")
    (_, _, params, _) = w.fake.requests_to("POST", "/channels/c1/record")[0]
    assert params == {
        "name": name,
        "format": "wav",
        "maxDurationSeconds": 60,
        "maxSilenceSeconds": 5,
        "beep": True,
        "terminateOn": "#",
        "ifExists": "fail",
    }
    played = w.fake.media_played("c1")
    assert played[1] == w.notice_media(text(Text.VOICEMAIL_PROMPT, "fi"))
    assert played[-1] == w.notice_media(text(Text.VOICEMAIL_THANKS, "fi"))
    (ended,) = w.sink.of(CaseEnded)
    assert ended.outcome == Outcome.VOICEMAIL
    assert w.fake.requests[-1][:2] == ("DELETE", "/channels/c1")
    # Asterisk's file went only after the row was kept (a kill -9 before leaves the file to
    # the recovery, never a stored file without its row)
    saved_at = w.sink.events.index(msg) + 1
    assert (msg.case_id, saved_at) in w.sink.durable_asked
    assert not (w.spool / f"{name}.wav").exists()


async def test_a_message_not_kept_yet_leaves_asterisks_file_for_the_recovery(
    tmp_path: Path,
) -> None:
    w = await world(tmp_path, tenant_flows(tmp_path))
    w.sink.keeps = False  # neither the database nor the spool took it
    w.fake.start_call("c1", args=["menu", "acme"], exten="200")
    w.fake.dtmf("c1", "4")
    name = await recording_started(w)
    (w.spool / f"{name}.wav").write_bytes(wav(2.0))
    w.fake.hangup("c1")
    await w.fake.wait_calls_done()
    (msg,) = w.sink.of(VoiceMessageSaved)
    assert msg.status == AudioStatus.COMPLETED and w.store.path(msg.location).exists()
    assert (w.spool / f"{name}.wav").exists()  # recording.recovery gives it its row later


async def test_hanging_up_ends_the_message_and_keeps_it(tmp_path: Path) -> None:
    w = await world(tmp_path, tenant_flows(tmp_path))
    w.fake.start_call("c1", args=["menu", "acme"], exten="200")
    w.fake.dtmf("c1", "4")
    name = await recording_started(w)
    (w.spool / f"{name}.wav").write_bytes(wav(2.0))
    w.fake.hangup("c1")  # Asterisk finishes the recording of a channel that hangs up
    await w.fake.wait_calls_done()
    (msg,) = w.sink.of(VoiceMessageSaved)
    assert msg.status == AudioStatus.COMPLETED and msg.duration == timedelta(seconds=2)
    assert w.fake.media_played("c1")[-1] == w.notice_media(
        text(Text.VOICEMAIL_PROMPT, "fi")
    )  # no thanks
    assert w.sink.of(CaseEnded)[0].outcome == Outcome.VOICEMAIL


async def direct(
    tmp_path: Path, results: list[object], **fake_kw: object
) -> tuple[World, CaseContext]:
    """A call whose flow is record_message alone (as the callback capture uses it)."""
    ctx = CaseContext(TENANT, tenant_flows(tmp_path))
    w = await world(tmp_path, ctx.flows, **fake_kw)

    async def handle(call: Call) -> None:
        try:
            results.append(await w.voicemail.record_message(call, ctx, "callbacks"))
        except CallHungUp:
            results.append("hung up")

    w.fake.attach(Dispatcher(w.fake, handle, app="linja"))
    return w, ctx


async def test_hang_up_during_the_prompt_leaves_no_message(tmp_path: Path) -> None:
    results: list[object] = []
    w, _ = await direct(tmp_path, results, hold_playbacks=True)
    w.fake.start_call("c1", args=["x"])
    await w.fake.wait_until(lambda: w.fake.held_playbacks("c1"))
    w.fake.hangup("c1")
    await w.fake.wait_calls_done()
    assert results == ["hung up"]
    assert w.sink.events == []
    assert not w.fake.requests_to("POST", "/channels/c1/record")


async def test_asterisk_failure_is_a_failed_row(tmp_path: Path) -> None:
    results: list[object] = []
    w, ctx = await direct(tmp_path, results)
    w.fake.start_call("c1", args=["x"])
    name = await recording_started(w)
    w.fake.finish_recording(name, failed=True)
    await w.fake.wait_calls_done()
    (msg,) = results
    assert isinstance(msg, VoiceMessageSaved)
    assert msg.status == AudioStatus.FAILED and msg.case_id == ctx.case_id
    assert msg.failure_reason == (
        f"Asterisk: recording failed (fake failure); Asterisk left no file {name}.wav"
    )
    assert (msg.size_bytes, msg.sha256) == (0, EMPTY_SHA256)
    assert w.sink.of(VoiceMessageSaved) == [msg]


async def test_refused_recording_is_a_failed_row(tmp_path: Path) -> None:
    results: list[object] = []
    w, _ = await direct(tmp_path, results)
    w.fake.set_response(
        "POST", "/channels/c1/record", AriHttpError(500, "POST", "/channels/c1/record")
    )
    w.fake.start_call("c1", args=["x"])
    await w.fake.wait_calls_done()
    (msg,) = results
    assert isinstance(msg, VoiceMessageSaved) and msg.status == AudioStatus.FAILED
    assert msg.failure_reason is not None and msg.failure_reason.startswith("could not start")


async def test_no_end_from_asterisk_stops_it_and_keeps_what_there_is(tmp_path: Path) -> None:
    results: list[object] = []
    w, ctx = await direct(tmp_path, results)
    ctx.flows = replace(ctx.flows, voicemail=VoicemailConfig(max_length=1, max_silence=0))
    w.fake.start_call("c1", args=["x"])
    name = await recording_started(w)
    (w.spool / f"{name}.wav").write_bytes(wav(1.0))
    await w.fake.wait_calls_done(timeout=5)
    (msg,) = results
    assert isinstance(msg, VoiceMessageSaved)
    assert msg.status == AudioStatus.FAILED
    assert msg.failure_reason == "no end of recording from Asterisk"
    assert msg.size_bytes > 0 and w.store.exists(msg.location)
    assert w.fake.requests_to("POST", f"/recordings/live/{name}/stop")


async def test_a_restricted_caller_is_told_and_nothing_is_recorded(tmp_path: Path) -> None:
    restrictions = RestrictedNumbers("+358401234567")
    w = await world(tmp_path, tenant_flows(tmp_path), restrictions=restrictions)
    w.fake.start_call("c1", args=["menu", "acme"], exten="200", caller="0401234567")
    await w.fake.wait_until(lambda: "sound:welcome" in w.fake.media_played("c1"))
    w.fake.dtmf("c1", "4")
    await w.fake.wait_calls_done()
    assert restrictions.asked == ["0401234567"]
    assert not w.fake.requests_to("POST", "/channels/c1/record")
    assert w.sink.of(VoiceMessageSaved) == []
    played = w.fake.media_played("c1")
    assert played[-1] == w.notice_media(text(Text.VOICEMAIL_REFUSED, "fi"))
    assert w.notice_media(text(Text.VOICEMAIL_PROMPT, "fi")) not in played  # no "leave a message"
    (ended,) = w.sink.of(CaseEnded)
    assert ended.outcome == Outcome.CLOSED


async def test_when_restrictions_cannot_be_checked_the_message_is_taken(tmp_path: Path) -> None:
    w = await world(tmp_path, tenant_flows(tmp_path), restrictions=RestrictedNumbers(broken=True))
    w.fake.start_call("c1", args=["menu", "acme"], exten="200")
    w.fake.dtmf("c1", "4")
    name = await recording_started(w)
    (w.spool / f"{name}.wav").write_bytes(wav(1.5))
    w.fake.dtmf("c1", "#")
    w.fake.finish_recording(name)
    await w.fake.wait_calls_done()
    (msg,) = w.sink.of(VoiceMessageSaved)
    assert msg.status == AudioStatus.COMPLETED
    assert w.sink.of(CaseEnded)[0].outcome == Outcome.VOICEMAIL
