"""AriClient + EventStream + Dispatcher against the simulated ARI server, including an
event-stream outage during which a caller vanishes and a playback ends."""

from __future__ import annotations

import asyncio

from ivr.ari.call import Call
from ivr.ari.client import AriClient
from ivr.ari.dispatcher import Dispatcher
from ivr.ari.errors import CallHungUp
from ivr.ari.events import EventStream
from tests.unit.ari.sim_ari import PASSWORD, USER, SimAri
from tests.unit.ari.util import until


async def test_call_flow_over_real_http_and_websocket(sim: SimAri, client: AriClient) -> None:
    digits: list[str] = []

    async def flow(call: Call) -> None:
        await call.answer()
        digits.append(await call.prompt_digits("sound:menu", 2, first_timeout=1, inter_timeout=1))
        await call.hangup()

    dispatcher = Dispatcher(client, flow)
    stream = EventStream(sim.base_url, USER, PASSWORD, "linja", on_event=dispatcher.on_event)
    runner = asyncio.create_task(stream.run())
    try:
        assert await stream.wait_connected(2.0)
        await sim.start_call("c1", "inbound")
        await until(lambda: sim.playbacks)
        for digit in "42":
            await sim.emit({"type": "ChannelDtmfReceived", "digit": digit, "channel": {"id": "c1"}})
        assert await dispatcher.wait_idle(2.0)
    finally:
        await stream.stop()
        await runner
    assert digits == ["42"]
    assert sim.playbacks == {}  # barge-in stopped the prompt
    assert "c1" not in sim.channels  # hung up
    assert all(PASSWORD not in s.url for s in sim.seen)


async def test_reconnect_then_resync_repairs_calls(sim: SimAri, client: AriClient) -> None:
    outcome: dict[str, str] = {}

    async def flow(call: Call) -> None:
        try:
            await call.answer()
            if call.args == ["reader"]:
                await call.read_digits(1, first_timeout=30, inter_timeout=30)
            else:
                await call.play("sound:long-bulletin")
            outcome[call.channel_id] = "completed"
            await call.hangup()
        except CallHungUp:
            outcome[call.channel_id] = "hung up"
            raise

    dispatcher = Dispatcher(client, flow)
    reconnects: list[bool] = []

    async def on_connected(reconnected: bool) -> None:
        reconnects.append(reconnected)
        if reconnected:
            await dispatcher.resync()

    stream = EventStream(
        sim.base_url,
        USER,
        PASSWORD,
        "linja",
        on_event=dispatcher.on_event,
        on_connected=on_connected,
        backoff_initial=0.05,
        backoff_max=0.2,
    )
    runner = asyncio.create_task(stream.run())
    try:
        assert await stream.wait_connected(2.0)
        await sim.start_call("reader", "reader")
        await sim.start_call("listener", "listener")
        await until(lambda: sim.channels["reader"]["state"] == "Up" and sim.playbacks)
        (playback_id,) = sim.playbacks

        # outage: the socket drops and reconnects fail for a while ...
        sim.ws_accepting = False
        attempts = len(sim.ws_attempts)
        await sim.drop_websockets()
        await until(lambda: len(sim.ws_attempts) >= attempts + 2)
        # ... during which the reader hangs up and the bulletin ends, unseen by us
        del sim.channels["reader"]
        await sim.finish_playback(playback_id)
        await asyncio.sleep(0.05)
        assert outcome == {} and dispatcher.active_calls == 2

        sim.ws_accepting = True
        await until(lambda: reconnects == [False, True])
        assert await dispatcher.wait_idle(2.0)
    finally:
        await stream.stop()
        await runner

    assert outcome == {"reader": "hung up", "listener": "completed"}
    seen = [(s.method, s.url) for s in sim.seen]
    assert ("GET", "/ari/channels") in seen
    assert ("GET", f"/ari/playbacks/{playback_id}") in seen
    assert ("DELETE", "/ari/channels/listener?reason=normal") in seen
    assert not any(url.startswith("/ari/channels/reader?") for _, url in seen)
