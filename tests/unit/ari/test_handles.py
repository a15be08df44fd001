"""Bridge, LiveRecording, Originate and music on hold: the requests each handle sends, and
that ARI's refusals reach the caller as the typed errors (never CallHungUp for MOH)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from ivr.ari.bridge import Bridge
from ivr.ari.call import Call
from ivr.ari.errors import AriError, AriHttpError, ChannelGone, NotInStasis, http_error
from ivr.ari.originate import Originate, originate
from ivr.ari.recordings import LiveRecording

Sent = tuple[str, str, dict[str, str | int | bool] | None]


class Rest:
    """Records requests; answers with ``status`` for paths listed in ``refuse``."""

    def __init__(self, refuse: Mapping[str, int] | None = None) -> None:
        self.sent: list[Sent] = []
        self.refuse = dict(refuse or {})

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | bool] | None = None,
        json: Any = None,
    ) -> Any:
        self.sent.append((method, path, dict(params) if params is not None else None))
        status = self.refuse.get(f"{method} {path}")
        if status is not None:
            raise http_error(status, method, path, "refused")
        return None


async def test_bridge_life_cycle_requests() -> None:
    rest = Rest()
    bridge = await Bridge.create(rest, "b-c1")
    await bridge.add("c1", "a1")
    await bridge.remove("a1")
    live = await bridge.record("rec-1")
    await bridge.destroy()
    assert bridge.id == "b-c1" and live.name == "rec-1"
    assert rest.sent == [
        ("POST", "/bridges/b-c1", {"type": "mixing"}),
        ("POST", "/bridges/b-c1/addChannel", {"channel": "c1,a1"}),
        ("POST", "/bridges/b-c1/removeChannel", {"channel": "a1"}),
        (
            "POST",
            "/bridges/b-c1/record",
            {
                "name": "rec-1",
                "format": "wav",
                "ifExists": "fail",
                "terminateOn": "none",
                "maxDurationSeconds": 0,
                "maxSilenceSeconds": 0,
                "beep": False,
            },
        ),
        ("DELETE", "/bridges/b-c1", None),
    ]


async def test_bridge_needs_a_channel_and_keeps_errors_typed() -> None:
    rest = Rest({"POST /bridges/b1/addChannel": 422, "DELETE /bridges/b1": 404})
    bridge = Bridge(rest, "b1")
    with pytest.raises(ValueError):
        await bridge.add()
    with pytest.raises(AriHttpError) as refused:
        await bridge.add("c1")
    assert refused.value.status == 422
    with pytest.raises(ChannelGone):
        await bridge.destroy()


async def test_live_recording_controls() -> None:
    rest = Rest()
    live = LiveRecording(rest, "rec-1")
    await live.pause()
    await live.unpause()
    await live.mute()
    await live.unmute()
    await live.stop()
    await live.cancel()
    assert [(m, p) for m, p, _ in rest.sent] == [
        ("POST", "/recordings/live/rec-1/pause"),
        ("DELETE", "/recordings/live/rec-1/pause"),
        ("POST", "/recordings/live/rec-1/mute"),
        ("DELETE", "/recordings/live/rec-1/mute"),
        ("POST", "/recordings/live/rec-1/stop"),
        ("DELETE", "/recordings/live/rec-1"),
    ]


async def test_live_recording_gone_or_in_the_wrong_state() -> None:
    rest = Rest({"POST /recordings/live/r/stop": 404, "POST /recordings/live/r/pause": 409})
    live = LiveRecording(rest, "r")
    with pytest.raises(ChannelGone):
        await live.stop()
    with pytest.raises(NotInStasis):
        await live.pause()


async def test_originate_params_with_and_without_caller_id() -> None:
    rest = Rest()
    leg = Originate("PJSIP/agent1", "linja", "agent-leg,c1", "a1", timeout=6, caller_id="100")
    await originate(rest, leg)
    await originate(rest, Originate("PJSIP/agent2", "linja", "x", "a2", timeout=3))
    assert rest.sent == [
        (
            "POST",
            "/channels",
            {
                "endpoint": "PJSIP/agent1",
                "app": "linja",
                "appArgs": "agent-leg,c1",
                "channelId": "a1",
                "timeout": 6,
                "callerId": "100",
            },
        ),
        (
            "POST",
            "/channels",
            {"endpoint": "PJSIP/agent2", "app": "linja", "appArgs": "x", "channelId": "a2",
             "timeout": 3},
        ),
    ]  # fmt: skip


async def test_originate_refused_is_typed() -> None:
    rest = Rest({"POST /channels": 500})
    with pytest.raises(AriError):
        await originate(rest, Originate("PJSIP/x", "linja", "", "a1", timeout=1))


async def test_music_on_hold_on_a_call() -> None:
    rest = Rest()
    call = Call(rest, "c1")
    await call.start_moh("queue-music")
    await call.start_moh()
    await call.stop_moh()
    assert rest.sent == [
        ("POST", "/channels/c1/moh", {"mohClass": "queue-music"}),
        ("POST", "/channels/c1/moh", {}),
        ("DELETE", "/channels/c1/moh", None),
    ]


async def test_music_on_hold_errors_stay_typed_and_do_not_end_the_call() -> None:
    rest = Rest({"POST /channels/c1/moh": 409, "DELETE /channels/c1/moh": 404})
    call = Call(rest, "c1")
    with pytest.raises(NotInStasis):
        await call.start_moh("default")
    with pytest.raises(ChannelGone):
        await call.stop_moh()
    assert not call.hung_up  # the flow decides what a failed music on hold means


async def test_call_recording_returns_its_live_handle() -> None:
    rest = Rest()
    call = Call(rest, "c1")
    live = await call.start_recording("msg-1", max_duration_seconds=5)
    await live.stop()
    assert (live.name, call.recordings) == ("msg-1", frozenset({"msg-1"}))
    assert rest.sent[-1] == ("POST", "/recordings/live/msg-1/stop", None)
    assert call.live_recording("other").name == "other"
