"""Dispatcher routing, isolation between calls, resync and lifecycle (with FakeAri)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from ivr.ari.call import Call
from ivr.ari.dispatcher import Dispatcher
from ivr.ari.errors import CallHungUp
from tests.unit.fake_ari import FakeAri

LOGGER = "ivr.ari.dispatcher"


def wire(fake: FakeAri, flow: Any, **kw: Any) -> Dispatcher:
    dispatcher = Dispatcher(fake, flow, **kw)
    fake.attach(dispatcher)
    return dispatcher


async def test_crashing_flow_is_logged_and_does_not_affect_another(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    results: dict[str, str] = {}

    async def flow(call: Call) -> None:
        if call.args == ["crash"]:
            await call.answer()
            raise RuntimeError("flow bug")
        await call.answer()
        await call.play("sound:menu")
        results[call.channel_id] = await call.read_digits(1, first_timeout=1, inter_timeout=1)
        await call.hangup()

    fake = FakeAri(durations={"sound:menu": 0.05})
    dispatcher = wire(fake, flow)
    fake.start_call("good", args=["ok"])
    fake.start_call("bad", args=["crash"])
    await fake.wait_until(lambda: fake.requests_to("DELETE", "/channels/bad"))
    fake.dtmf("good", "5")
    await fake.wait_calls_done(1.0)

    assert results == {"good": "5"}
    assert dispatcher.calls_started == 2
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "channel=bad" in errors[0].getMessage()
    assert errors[0].exc_info is not None and errors[0].exc_info[0] is RuntimeError
    # the crashed call was hung up rather than left in dead air
    assert ("DELETE", "/channels/bad", {"reason": "normal"}, None) in fake.requests


async def test_caller_hangup_is_a_normal_end_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="ivr.ari")

    async def flow(call: Call) -> None:
        await call.play("sound:long")

    fake = FakeAri(hold_playbacks=True)
    wire(fake, flow)
    fake.start_call("c1")
    await fake.wait_until(lambda: fake.held_playbacks("c1"))
    fake.hangup("c1")
    await fake.wait_calls_done(1.0)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("channel=c1 call ended" in r.getMessage() for r in caplog.records)


async def test_slow_flow_does_not_delay_another() -> None:
    finished: dict[str, float] = {}
    release = asyncio.Event()

    async def flow(call: Call) -> None:
        if call.args == ["slow"]:
            await release.wait()  # e.g. a slow database
        await call.answer()
        await call.hangup()
        finished[call.channel_id] = time.monotonic()

    fake = FakeAri()
    dispatcher = wire(fake, flow)
    fake.start_call("slow", args=["slow"])
    started = time.monotonic()
    fake.start_call("fast", args=["fast"])
    await fake.wait_until(lambda: "fast" in finished)
    assert finished["fast"] - started < 0.05
    assert dispatcher.active_calls == 1
    release.set()
    await fake.wait_calls_done(1.0)


async def test_flow_returning_without_hangup_is_hung_up_but_released_is_not() -> None:
    async def flow(call: Call) -> None:
        await call.answer()
        if call.args == ["release"]:
            await call.continue_in_dialplan(context="linja-out", extension="s", priority=1)

    fake = FakeAri()
    wire(fake, flow)
    fake.start_call("forgot")
    fake.start_call("released", args=["release"])
    await fake.wait_calls_done(1.0)
    assert fake.requests_to("DELETE", "/channels/forgot")
    assert not fake.requests_to("DELETE", "/channels/released")
    assert fake.requests_to("POST", "/channels/released/continue")[0][2] == {
        "context": "linja-out",
        "extension": "s",
        "priority": 1,
    }


async def test_playback_events_fall_back_to_target_uri_and_unknown_are_ignored() -> None:
    got: list[dict[str, Any]] = []

    async def flow(call: Call) -> None:
        got.append(await call.wait_event({"StasisEnd"}, timeout=1))

    fake = FakeAri()
    dispatcher = wire(fake, flow)
    fake.start_call("c1")
    # a playback the call never registered still reaches it through target_uri
    fake.emit({"type": "PlaybackStarted", "playback": {"id": "x", "target_uri": "channel:c1"}})
    fake.emit({"type": "ChannelDtmfReceived", "digit": "1", "channel": {"id": "nobody"}})
    fake.emit({"type": "PlaybackFinished", "playback": {"id": "y", "target_uri": "bridge:b"}})
    fake.emit({"type": "BridgeCreated", "bridge": {"id": "b"}})
    fake.emit({"no": "type"})
    call = dispatcher.get_call("c1")
    assert call is not None
    assert call._queue.qsize() == 1  # only the PlaybackStarted for c1
    fake.emit({"type": "StasisEnd", "channel": {"id": "c1"}})
    await fake.wait_calls_done(1.0)
    assert got[0]["type"] == "StasisEnd"
    assert dispatcher.get_call("c1") is None


async def test_a_thousand_calls_at_once_all_end() -> None:
    digits: list[str] = []

    async def flow(call: Call) -> None:
        await call.answer()
        await call.play("sound:hello")
        digits.append(await call.read_digits(2, first_timeout=1, inter_timeout=1))
        await call.hangup()

    fake = FakeAri()
    dispatcher = wire(fake, flow)
    n = 1000
    for i in range(n):
        fake.start_call(f"c{i}")
        fake.dtmf(f"c{i}", "42")
    await fake.wait_calls_done(30.0)  # how fast is for a benchmark; here: all of them end
    assert dispatcher.calls_started == n
    assert digits == ["42"] * n
    assert len(fake.requests_to("DELETE", "/channels/")) == n
    # nothing left behind in the routing tables
    assert dispatcher._calls == {} and dispatcher._playbacks == {} and dispatcher._tasks == {}


async def test_adopted_channel_gets_its_events_without_a_new_flow() -> None:
    flows: list[str] = []
    got: list[str] = []

    async def flow(call: Call) -> None:
        flows.append(call.channel_id)
        agent = dispatcher.adopt("agent-1")
        await fake.request(
            "POST",
            "/channels",
            params={"endpoint": "PJSIP/agent", "app": "linja", "channelId": "agent-1"},
        )
        event = await agent.wait_event({"StasisStart"}, timeout=1)
        got.append(event["channel"]["id"])
        await agent.hangup()
        await call.hangup()

    fake = FakeAri()
    dispatcher = wire(fake, flow)
    fake.start_call("caller")
    await fake.wait_until(lambda: fake.requests_to("POST", "/channels"))
    fake.start_call("agent-1", args=["agent"])
    await fake.wait_calls_done(1.0)
    assert flows == ["caller"] and got == ["agent-1"]
    await asyncio.sleep(0)  # teardown events of agent-1 are emitted on the next loop turn
    assert dispatcher.get_call("agent-1") is None


async def test_a_recording_outlives_the_adopted_channel_it_was_started_from() -> None:
    # A bridge recording started on an agent leg: the agent hangs up first, the leg is
    # forgotten, yet RecordingFinished must still reach whoever waits for it.
    dispatcher = Dispatcher(FakeAri(), lambda call: asyncio.sleep(0), app="linja")
    leg = dispatcher.adopt("agent-1")
    leg.register_recording("rec-1")
    dispatcher.on_event({"type": "ChannelDestroyed", "channel": {"id": "agent-1"}})
    assert dispatcher.get_call("agent-1") is None
    finished = {"type": "RecordingFinished", "recording": {"name": "rec-1", "state": "done"}}
    dispatcher.on_event(finished)
    assert (await leg.wait_recording("rec-1", timeout=1))["type"] == "RecordingFinished"
    leg.unregister_recording("rec-1")
    dispatcher.on_event(finished)  # now routed nowhere: ignored
    with pytest.raises(TimeoutError):
        await leg.wait_recording("rec-1", timeout=0.05)


async def test_resync_ends_vanished_calls_and_finishes_lost_playbacks() -> None:
    outcome: dict[str, str] = {}

    async def flow(call: Call) -> None:
        try:
            await call.play("sound:long")
            outcome[call.channel_id] = "played"
            await call.hangup()
        except CallHungUp:
            outcome[call.channel_id] = "hung up"
            raise

    fake = FakeAri(hold_playbacks=True)
    dispatcher = wire(fake, flow)
    for cid in ("vanished", "finished", "still-playing"):
        fake.start_call(cid)
    await fake.wait_until(lambda: len(fake.held_playbacks()) == 3)
    # the event stream is down: things change without any event reaching us
    del fake.channels["vanished"]
    del fake.playbacks[fake.held_playbacks("finished")[0]]

    await dispatcher.resync()
    await fake.wait_until(lambda: len(outcome) == 2)
    assert outcome == {"vanished": "hung up", "finished": "played"}
    assert dispatcher.active_calls == 1
    fake.finish_playback(channel_id="still-playing")
    await fake.wait_calls_done(1.0)
    assert outcome["still-playing"] == "played"


async def test_resync_starts_flows_for_channels_whose_stasis_start_was_lost() -> None:
    started: list[tuple[str, list[str]]] = []

    async def flow(call: Call) -> None:
        started.append((call.channel_id, call.args))
        await call.hangup()

    fake = FakeAri()
    dispatcher = wire(fake, flow, app="linja")
    fake.start_call("seen")
    await fake.wait_calls_done(1.0)
    fake.detach()  # events lost: StasisStart for "lost" never arrives
    fake.start_call("lost", args=["inbound", "t1"])
    fake.channels["other-app"] = {
        "id": "other-app",
        "dialplan": {"app_name": "Stasis", "app_data": "someone-else,x"},
    }
    fake.channels["dialplan"] = {"id": "dialplan", "dialplan": {"app_name": "Dial"}}
    fake.attach(dispatcher)
    await dispatcher.resync()
    await fake.wait_calls_done(1.0)
    assert started == [("seen", []), ("lost", ["inbound", "t1"])]


async def test_shutdown_rejects_new_calls() -> None:
    async def flow(call: Call) -> None:
        await call.hangup()

    fake = FakeAri()
    dispatcher = wire(fake, flow)
    await dispatcher.shutdown(timeout=0.1)
    fake.start_call("late")
    await dispatcher.shutdown(timeout=0.1)
    assert dispatcher.calls_started == 0
    assert fake.requests == [("DELETE", "/channels/late", {"reason": "congestion"}, None)]
