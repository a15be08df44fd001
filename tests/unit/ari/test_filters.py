"""The ARI application event filter: what is asked for, and a refusal that is not fatal."""

from __future__ import annotations

import json
from typing import Any

from ivr.ari.errors import AriUnavailable
from ivr.ari.filters import FLOW_EVENTS, apply_event_filter, untracked_end
from ivr.ari.protocol import Params


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.fail = fail

    async def request(
        self, method: str, path: str, *, params: Params | None = None, json: Any = None
    ) -> Any:
        self.requests.append((method, path, json))
        if self.fail:
            raise AriUnavailable("ARI PUT: refused")
        return {"name": "linja"}


async def test_filter_allows_exactly_the_flow_events() -> None:
    rest = Recorder()
    assert await apply_event_filter(rest, "linja") is True
    ((method, path, body),) = rest.requests
    assert (method, path) == ("PUT", "/applications/linja/eventFilter")
    assert sorted(a["type"] for a in body["allowed"]) == sorted(FLOW_EVENTS)
    assert body["disallowed"] == []
    assert "ChannelVarset" not in FLOW_EVENTS
    for used in ("StasisStart", "PlaybackFinished", "ChannelDtmfReceived", "RecordingFinished"):
        assert used in FLOW_EVENTS


async def test_a_refused_filter_is_logged_not_raised(caplog: Any) -> None:
    assert await apply_event_filter(Recorder(fail=True), "linja") is False
    assert "event filter not applied" in caplog.text


def test_untracked_end_skips_only_the_stasis_end_of_a_channel_no_call_tracks() -> None:
    tracked = {"1.2"}
    skipped: list[None] = []
    skip = untracked_end(tracked.__contains__, lambda: skipped.append(None))

    def end(cid: str, *, first: str = "type") -> str:
        event = {"type": "StasisEnd", "timestamp": "t", "channel": {"id": cid, "name": "x"}}
        if first != "type":
            event = {first: event.pop(first), **event}
        return json.dumps(event, separators=(",", ":"))

    assert skip(end("9.9"))
    assert not skip(end("1.2"))  # its call still waits for it
    assert not skip(end("9.9").replace("StasisEnd", "StasisStart"))
    assert not skip(end("9.9", first="timestamp"))  # another layout: decoded as usual
    assert not skip(json.dumps({"type": "StasisEnd", "channel": {"id": "9.9"}}))  # pretty
    assert len(skipped) == 1
