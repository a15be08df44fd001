"""Call (the flow's handle) driven through Dispatcher + FakeAri."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from ivr.ari.call import Call
from ivr.ari.dispatcher import Dispatcher
from ivr.ari.errors import CallHungUp
from tests.unit.fake_ari import FakeAri

Flow = Callable[[Call], Awaitable[None]]


def setup(flow: Flow, **fake_kw: Any) -> tuple[FakeAri, Dispatcher]:
    fake = FakeAri(**fake_kw)
    dispatcher = Dispatcher(fake, flow)
    fake.attach(dispatcher)
    return fake, dispatcher


def now() -> float:
    return asyncio.get_running_loop().time()


async def test_call_attributes_from_stasis_start() -> None:
    seen: list[Call] = []

    async def flow(call: Call) -> None:
        seen.append(call)

    fake, _ = setup(flow)
    fake.start_call("c1", args=["inbound", "tenant-7"], caller="0401234567", exten="100")
    await fake.wait_calls_done()
    call = seen[0]
    assert call.channel_id == "c1"
    assert call.args == ["inbound", "tenant-7"]
    assert (call.caller_number, call.dialed, call.language) == ("0401234567", "100", "fi")


async def test_answer_of_a_channel_the_dialplan_answered_costs_no_request() -> None:
    async def flow(call: Call) -> None:
        await call.answer()
        await call.play("sound:welcome")
        await call.hangup()

    fake, _ = setup(flow, durations={"sound:welcome": 0.01})
    fake.start_call("up", state="Up")
    fake.start_call("ringing")
    await fake.wait_calls_done()
    assert fake.requests_to("POST", "/channels/up/answer") == []
    assert len(fake.requests_to("POST", "/channels/ringing/answer")) == 1
    assert fake.media_played("up") == ["sound:welcome"]


async def test_answer_play_list_with_lang_then_hangup() -> None:
    async def flow(call: Call) -> None:
        await call.answer()
        await call.play(["sound:welcome", "sound:menu"], lang="fi")
        await call.hangup()

    fake, _ = setup(flow, durations={"sound:welcome": 0.03})
    fake.start_call("c1")
    await fake.wait_calls_done()
    methods = [(m, p) for m, p, _, _ in fake.requests]
    assert methods[0] == ("POST", "/channels/c1/answer")
    assert methods[1][1].startswith("/channels/c1/play/")
    assert methods[2] == ("DELETE", "/channels/c1")
    params = fake.requests[1][2]
    assert params == {"media": "sound:welcome,sound:menu", "lang": "fi"}
    assert fake.requests[2][2] == {"reason": "normal"}
    assert fake.media_played("c1") == ["sound:welcome", "sound:menu"]


async def test_play_waits_for_playback_finished() -> None:
    finished_at: list[float] = []

    async def flow(call: Call) -> None:
        await call.play("sound:long")
        finished_at.append(now())

    fake, _ = setup(flow, hold_playbacks=True)
    fake.start_call("c1")
    await fake.wait_until(lambda: fake.held_playbacks("c1"))
    await asyncio.sleep(0.05)
    assert finished_at == []
    released_at = now()
    fake.finish_playback(channel_id="c1")
    await fake.wait_calls_done()
    assert finished_at[0] - released_at < 0.05


async def test_play_raises_call_hung_up_when_caller_hangs_up_mid_prompt() -> None:
    outcome: list[Any] = []

    async def flow(call: Call) -> None:
        try:
            await call.play("sound:long-prompt")
        except CallHungUp as exc:
            outcome.append((exc.channel_id, now(), call.hung_up))
            raise
        outcome.append("finished")

    fake, dispatcher = setup(flow, hold_playbacks=True)
    fake.start_call("c1")
    await fake.wait_until(lambda: fake.held_playbacks("c1"))
    hung_up_at = now()
    fake.hangup("c1")
    await fake.wait_calls_done(1.0)
    channel_id, raised_at, hung_up = outcome[0]
    assert channel_id == "c1" and hung_up
    assert raised_at - hung_up_at < 0.05
    assert dispatcher.active_calls == 0
    # the caller is gone, so the dispatcher does not try to hang up again
    assert fake.requests_to("DELETE", "/channels/") == []


async def test_play_on_vanished_channel_raises_call_hung_up() -> None:
    outcome: list[str] = []

    async def flow(call: Call) -> None:
        await call.answer()
        del fake.channels["c1"]  # gone without us hearing about it
        try:
            await call.play("sound:x")
        except CallHungUp:
            outcome.append("hung up")
            raise

    fake, _ = setup(flow)
    fake.start_call("c1")
    await fake.wait_calls_done(1.0)
    assert outcome == ["hung up"]


async def test_hangup_of_gone_channel_is_fine() -> None:
    done: list[bool] = []

    async def flow(call: Call) -> None:
        fake.hangup("c1")
        await call.hangup()
        await call.hangup()
        done.append(call.hung_up)

    fake, _ = setup(flow)
    fake.start_call("c1")
    await fake.wait_calls_done(1.0)
    assert done == [True]


async def test_read_digits_first_timeout_returns_empty() -> None:
    result: list[tuple[str, float]] = []

    async def flow(call: Call) -> None:
        started = now()
        digits = await call.read_digits(4, first_timeout=0.1, inter_timeout=5)
        result.append((digits, now() - started))

    fake, _ = setup(flow)
    fake.start_call("c1")
    await fake.wait_calls_done(1.0)
    digits, elapsed = result[0]
    assert digits == ""
    assert 0.09 <= elapsed < 1.0  # the 0.1 s first-digit timeout, not the 5 s one


async def test_read_digits_inter_digit_timeout() -> None:
    reading = asyncio.Event()
    result: list[tuple[str, float]] = []

    async def flow(call: Call) -> None:
        reading.set()
        digits = await call.read_digits(4, first_timeout=5, inter_timeout=0.1)
        result.append((digits, now()))

    fake, _ = setup(flow)
    fake.start_call("c1")
    await reading.wait()
    await asyncio.sleep(0.02)
    fake.dtmf("c1", "1")
    await asyncio.sleep(0.05)
    fake.dtmf("c1", "2")
    last_digit_at = now()
    await fake.wait_calls_done(1.0)
    digits, returned_at = result[0]
    assert digits == "12"
    assert 0.09 <= returned_at - last_digit_at < 0.25


async def test_read_digits_terminator_max_digits_and_type_ahead() -> None:
    reads: list[str] = []

    async def flow(call: Call) -> None:
        await call.play("sound:menu")  # caller types during the prompt
        reads.append(await call.read_digits(6, first_timeout=0.5, inter_timeout=0.5))
        reads.append(await call.read_digits(2, first_timeout=0.5, inter_timeout=0.5))
        reads.append(await call.read_digits(5, first_timeout=0.05, inter_timeout=0.05))
        reads.append(await call.read_digits(3, first_timeout=0.05, inter_timeout=0.05))

    fake, _ = setup(flow, hold_playbacks=True)
    fake.start_call("c1")
    await fake.wait_until(lambda: fake.held_playbacks("c1"))
    fake.dtmf("c1", "12#3456")
    fake.finish_playback(channel_id="c1")
    await fake.wait_calls_done(1.0)
    # terminator not included; max digits leaves the rest buffered for the next read
    assert reads == ["12", "34", "56", ""]


async def test_clear_digits_drops_type_ahead() -> None:
    reads: list[str] = []

    async def flow(call: Call) -> None:
        await call.play("sound:menu")
        call.clear_digits()
        reads.append(await call.read_digits(3, first_timeout=0.3, inter_timeout=0.05))

    fake, _ = setup(flow, hold_playbacks=True)
    fake.start_call("c1")
    await fake.wait_until(lambda: fake.held_playbacks("c1"))
    fake.dtmf("c1", "99")
    fake.finish_playback(channel_id="c1")
    await fake.wait_until(lambda: fake.requests and len(fake.events) >= 4)
    await asyncio.sleep(0.02)
    fake.dtmf("c1", "7")
    await fake.wait_calls_done(1.0)
    assert reads == ["7"]


async def test_read_digits_raises_on_hangup() -> None:
    reading = asyncio.Event()
    outcome: list[str] = []

    async def flow(call: Call) -> None:
        reading.set()
        try:
            await call.read_digits(4, first_timeout=10, inter_timeout=10)
        except CallHungUp:
            outcome.append("hung up")
            raise

    fake, _ = setup(flow)
    fake.start_call("c1")
    await reading.wait()
    fake.dtmf("c1", "1")
    fake.hangup("c1")
    await fake.wait_calls_done(0.5)
    assert outcome == ["hung up"]


async def test_prompt_digits_barge_in_stops_the_prompt() -> None:
    result: list[str] = []

    async def flow(call: Call) -> None:
        result.append(
            await call.prompt_digits(
                "sound:long-menu", 1, first_timeout=1, inter_timeout=1, lang="sv"
            )
        )

    fake, _ = setup(flow, hold_playbacks=True)
    fake.start_call("c1")
    await fake.wait_until(lambda: fake.held_playbacks("c1"))
    playback_id = fake.held_playbacks("c1")[0]
    fake.dtmf("c1", "7")
    await fake.wait_calls_done(1.0)
    assert result == ["7"]
    assert ("DELETE", f"/playbacks/{playback_id}", None, None) in fake.requests
    assert fake.held_playbacks() == []


async def test_prompt_digits_skips_prompt_when_caller_typed_ahead() -> None:
    result: list[str] = []

    async def flow(call: Call) -> None:
        await call.play("sound:intro")
        result.append(await call.prompt_digits("sound:menu", 1, first_timeout=1, inter_timeout=1))

    fake, _ = setup(flow, hold_playbacks=True)
    fake.start_call("c1")
    await fake.wait_until(lambda: fake.held_playbacks("c1"))
    fake.dtmf("c1", "3")
    fake.finish_playback(channel_id="c1")
    await fake.wait_calls_done(1.0)
    assert result == ["3"]
    assert fake.media_played("c1") == ["sound:intro"]


async def test_start_and_stop_playback_ignores_already_finished() -> None:
    async def flow(call: Call) -> None:
        playback_id = await call.start_playback("sound:short")
        assert await call.wait_playback(playback_id, timeout=1) is True
        await call.stop_playback(playback_id)  # 404 by now: fine

    fake, _ = setup(flow)
    fake.start_call("c1")
    await fake.wait_calls_done(1.0)
    assert len(fake.requests_to("DELETE", "/playbacks/")) == 1


async def test_wait_event_matches_backlog_and_times_out() -> None:
    got: list[Any] = []

    async def flow(call: Call) -> None:
        await call.play("sound:x")  # ChannelVarset arrives while we are busy playing
        event = await call.wait_event({"ChannelVarset"}, timeout=1)
        got.append(event["variable"])
        try:
            await call.wait_event({"ChannelVarset"}, timeout=0.05)
        except TimeoutError:
            got.append("timeout")
        event = await call.wait_event({"ChannelTalkingStarted"}, timeout=1)
        got.append(event["type"])

    fake, _ = setup(flow, hold_playbacks=True)
    fake.start_call("c1")
    await fake.wait_until(lambda: fake.held_playbacks("c1"))
    fake.emit({"type": "ChannelVarset", "variable": "FOO", "channel": {"id": "c1"}})
    fake.finish_playback(channel_id="c1")
    await fake.wait_until(lambda: "timeout" in got)
    fake.emit({"type": "ChannelTalkingStarted", "channel": {"id": "c1"}})
    await fake.wait_calls_done(1.0)
    assert got == ["FOO", "timeout", "ChannelTalkingStarted"]


async def test_wait_event_raises_on_hangup() -> None:
    waiting = asyncio.Event()
    outcome: list[str] = []

    async def flow(call: Call) -> None:
        waiting.set()
        try:
            await call.wait_event({"ChannelEnteredBridge"}, timeout=None)
        except CallHungUp:
            outcome.append("hung up")

    fake, _ = setup(flow)
    fake.start_call("c1")
    await waiting.wait()
    fake.hangup("c1")
    await fake.wait_calls_done(0.5)
    assert outcome == ["hung up"]


async def test_recording_events_routed_by_name_even_after_hangup() -> None:
    got: list[Any] = []

    async def flow(call: Call) -> None:
        await call.answer()
        await call.start_recording("msg-1", max_duration_seconds=60, beep=True)
        await call.wait_event({"RecordingStarted"}, timeout=1)
        got.append("started")
        event = await call.wait_recording("msg-1", timeout=1)
        got.append((event["type"], event["recording"]["name"], call.hung_up))

    fake, _ = setup(flow)
    fake.start_call("c1")
    await fake.wait_until(lambda: "started" in got)
    record = fake.requests_to("POST", "/channels/c1/record")[0]
    assert record[2] is not None
    assert record[2]["name"] == "msg-1" and record[2]["beep"] is True
    fake.hangup("c1")  # the caller leaves the message and hangs up
    await fake.wait_calls_done(1.0)
    assert got == ["started", ("RecordingFinished", "msg-1", True)]


async def test_cancelling_a_wait_is_prompt() -> None:
    async def flow(call: Call) -> None:
        await call.read_digits(1, first_timeout=30, inter_timeout=30)

    fake, dispatcher = setup(flow)
    fake.start_call("c1")
    await fake.wait_until(lambda: dispatcher.active_calls == 1)
    await asyncio.sleep(0.01)
    started = now()
    await dispatcher.shutdown(timeout=0.05)
    assert now() - started < 0.3
    assert dispatcher.active_calls == 0
    # a cancelled flow does not leave the caller in dead air
    assert ("DELETE", "/channels/c1", {"reason": "normal"}, None) in fake.requests


async def test_waits_wake_up_even_if_someone_else_drained_the_queue() -> None:
    """State queries (``hung_up``, resync) process queued events; a flow blocked in a wait
    must still notice what those events changed."""
    got: list[str] = []

    async def flow(call: Call) -> None:
        await call.play("sound:x")
        got.append("played")
        got.append(await call.read_digits(1, first_timeout=5, inter_timeout=5))

    fake, dispatcher = setup(flow, hold_playbacks=True)
    fake.start_call("c1")
    await fake.wait_until(lambda: fake.held_playbacks("c1"))
    call = dispatcher.get_call("c1")
    assert call is not None
    fake.finish_playback(channel_id="c1")
    assert not call.hung_up  # drains the PlaybackFinished before the flow runs again
    await fake.wait_until(lambda: got == ["played"], timeout=0.5)
    await asyncio.sleep(0.01)
    fake.dtmf("c1", "9")
    assert call.pending_playbacks == frozenset()  # drains the digit
    await fake.wait_calls_done(0.5)
    assert got == ["played", "9"]
