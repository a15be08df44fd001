"""The ARI application event filter: what is asked for, and a refusal that is not fatal."""

from __future__ import annotations

from typing import Any

from ivr.ari.errors import AriUnavailable
from ivr.ari.filters import FLOW_EVENTS, apply_event_filter
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
