"""WsRest: ARI requests over the event websocket, against the simulated ARI (which answers
RESTRequest messages as Asterisk 22 does), and over a socket that never answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from ivr.ari.client import AriClient
from ivr.ari.errors import AriHttpError, AriTimedOut, AriUnavailable, ChannelGone
from ivr.ari.events import EventStream
from ivr.ari.retry import RetryPolicy
from ivr.ari.wsrest import WsRest
from tests.unit.ari.sim_ari import PASSWORD, USER, SimAri
from tests.unit.ari.util import until


class Observed:
    def __init__(self) -> None:
        self.done: list[tuple[str, str]] = []
        self.retried: list[str] = []

    def request_done(self, method: str, outcome: str, seconds: float) -> None:
        self.done.append((method, outcome))

    def request_retried(self, method: str) -> None:
        self.retried.append(method)


@pytest.fixture
async def wired(sim: SimAri, client: AriClient) -> AsyncIterator[tuple[EventStream, WsRest]]:
    stream = EventStream(sim.base_url, USER, PASSWORD, "linja", on_event=lambda e: None)
    rest = WsRest(stream, client, retry=RetryPolicy(3, 0.001, 0.002), observer=Observed())
    stream.replies = rest
    task = asyncio.create_task(stream.run())
    try:
        assert await stream.wait_connected(2.0)
        yield stream, rest
    finally:
        await stream.stop()
        await asyncio.wait_for(task, 2.0)


def _http_continues(sim: SimAri) -> list[str]:
    return [s.url for s in sim.seen if s.url.startswith("/ari/channels/") and "continue" in s.url]


async def test_a_continue_goes_over_the_socket_once_the_probe_was_answered(
    sim: SimAri, wired: tuple[EventStream, WsRest]
) -> None:
    _, rest = wired
    sim.add_channel("c1")
    assert not rest.ready
    assert await rest.probe()
    assert rest.ready
    params = {"context": "linja-fallback", "extension": "100", "label": "bulletin"}
    assert await rest.request("POST", "/channels/c1/continue", params=params) is None
    last = sim.ws_requests[-1]
    assert last["method"] == "POST"
    assert last["uri"] == "channels/c1/continue?context=linja-fallback&extension=100&label=bulletin"
    assert "c1" not in sim.channels
    assert _http_continues(sim) == []  # nothing over HTTP
    assert rest.in_flight == 0


async def test_error_statuses_keep_their_meaning(
    sim: SimAri, wired: tuple[EventStream, WsRest]
) -> None:
    _, rest = wired
    assert await rest.probe()
    with pytest.raises(ChannelGone, match="Channel not found"):
        await rest.request("POST", "/channels/nobody/continue", params={"label": "shed"})
    sim.status_override["channels/c2/continue"] = (409, {"message": "Channel not in Stasis"})
    with pytest.raises(AriHttpError) as caught:
        await rest.request("POST", "/channels/c2/continue", params={"label": "shed"})
    assert caught.value.status == 409


async def test_a_5xx_continue_is_retried_and_a_play_is_not(
    sim: SimAri, wired: tuple[EventStream, WsRest]
) -> None:
    _, rest = wired
    assert await rest.probe()
    sim.status_override["channels/c3/continue"] = (500, {"message": "Internal"})
    before = len(sim.ws_requests)
    with pytest.raises(AriHttpError):
        await rest.request("POST", "/channels/c3/continue", params={"label": "shed"})
    assert len(sim.ws_requests) - before == 3  # the policy's three tries
    sim.status_override["channels/c3/play/p1"] = (500, {"message": "Internal"})
    before = len(sim.ws_requests)
    with pytest.raises(AriHttpError):
        await rest.request("POST", "/channels/c3/play/p1", params={"media": "sound:x"})
    assert len(sim.ws_requests) - before == 1  # never sent twice


async def test_before_the_probe_and_after_a_drop_requests_go_over_http(
    sim: SimAri, wired: tuple[EventStream, WsRest]
) -> None:
    stream, rest = wired
    sim.add_channel("c4")
    sim.add_channel("c5")
    await rest.request("DELETE", "/channels/c4")  # no probe yet: HTTP
    assert "c4" not in sim.channels and sim.ws_requests == []
    assert await rest.probe()
    await sim.drop_websockets()
    await until(lambda: not stream.connected)
    assert not rest.ready
    await rest.request("DELETE", "/channels/c5")
    assert "c5" not in sim.channels
    assert [r["uri"] for r in sim.ws_requests] == ["asterisk/ping"]


async def test_an_asterisk_that_never_answers_costs_the_probe_not_a_call(
    sim: SimAri, wired: tuple[EventStream, WsRest]
) -> None:
    _, rest = wired
    sim.ws_rest = False
    assert not await rest.probe(timeout=0.2)
    assert not rest.ready
    sim.add_channel("c6")
    await rest.request("DELETE", "/channels/c6")  # over HTTP, answered at once
    assert "c6" not in sim.channels


class _Silent:
    """A socket that takes every message and never answers."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.connected = True

    def send_now(self, text: str) -> None:
        if not self.connected:
            raise AriUnavailable("down")
        self.sent.append(text)


class _NoHttp:
    async def request(self, method: str, path: str, **kw: Any) -> Any:
        raise AssertionError("not over HTTP")


async def _ready(rest: WsRest, socket: _Silent) -> None:
    probe = asyncio.create_task(rest.probe())
    await until(lambda: socket.sent)
    rest.on_reply('{"type":"RESTResponse","request_id":"1","status_code":200,"message_body":""}')
    assert await probe


async def test_an_unanswered_request_times_out_and_a_closed_socket_fails_its_requests() -> None:
    socket = _Silent()
    observed = Observed()
    rest = WsRest(socket, _NoHttp(), timeout=0.2, retry=RetryPolicy(1), observer=observed)
    await _ready(rest, socket)
    with pytest.raises(AriTimedOut):  # a timeout is not retried
        await rest.request("POST", "/channels/c7/continue", params={"label": "shed"})
    assert len(socket.sent) == 2 and rest.in_flight == 0
    assert observed.done[-1] == ("POST", "unavailable")

    pending = asyncio.create_task(rest.request("GET", "/channels/c8"))
    await until(lambda: rest.in_flight == 1)
    socket.connected = False
    rest.on_closed()
    with pytest.raises(AriUnavailable):
        await pending
    assert rest.in_flight == 0 and not rest.ready


async def test_answers_nobody_waits_for_and_garbage_are_dropped() -> None:
    socket = _Silent()
    rest = WsRest(socket, _NoHttp(), timeout=1.0, retry=RetryPolicy(1))
    await _ready(rest, socket)
    rest.on_reply("not json")
    rest.on_reply('{"type":"RESTResponse","request_id":"99","status_code":204}')
    rest.on_reply('{"type":"RESTResponse","request_id":null}')
    waiting = asyncio.create_task(rest.request("GET", "/channels/c9"))
    await until(lambda: rest.in_flight == 1)
    rest.on_reply('{"type":"RESTResponse","request_id":"2","status_code":"x"}')  # no status
    with pytest.raises(AriUnavailable):
        await waiting
    got = asyncio.create_task(rest.request("GET", "/channels/c9"))
    await until(lambda: rest.in_flight == 1)
    rest.on_reply(
        '{"type":"RESTResponse","request_id":"3","status_code":200,'
        '"message_body":"{\\"id\\":\\"c9\\"}"}'
    )
    assert await got == {"id": "c9"}


class Told:
    """An ``answered`` callback that keeps what it was told."""

    def __init__(self) -> None:
        self.told: list[tuple[int, type[Exception] | None]] = []

    def __call__(self, status: int, error: Exception | None) -> None:
        self.told.append((status, None if error is None else type(error)))


async def test_send_now_writes_at_once_and_tells_the_answer_with_no_task(
    sim: SimAri, wired: tuple[EventStream, WsRest]
) -> None:
    _, rest = wired
    told = Told()
    params = {"label": "bulletin", "context": "linja-fallback", "extension": "100"}
    assert not rest.send_now("POST", "/channels/c1/continue", params, told)  # before the probe
    assert told.told == [] and rest.in_flight == 0
    assert await rest.probe()
    sim.add_channel("c1")
    tasks = len(asyncio.all_tasks())
    assert rest.send_now("POST", "/channels/c1/continue", params, told)
    assert len(asyncio.all_tasks()) == tasks and rest.in_flight == 1
    await until(lambda: told.told == [(204, None)])
    assert "c1" not in sim.channels and _http_continues(sim) == []
    # the same parameters again: the same query (kept, not encoded again)
    assert rest.send_now("POST", "/channels/c404/continue", params, told)
    await until(lambda: len(told.told) == 2)
    assert told.told[1] == (404, ChannelGone)
    assert sim.ws_requests[-1]["uri"] == (
        "channels/c404/continue?label=bulletin&context=linja-fallback&extension=100"
    )


async def test_send_now_tells_a_timeout_and_a_close_and_refuses_a_closed_socket() -> None:
    socket = _Silent()
    observed = Observed()
    rest = WsRest(socket, _NoHttp(), timeout=0.2, retry=RetryPolicy(1), observer=observed)
    await _ready(rest, socket)
    told = Told()
    assert rest.send_now("POST", "/channels/c7/continue", {"label": "shed"}, told)
    await until(lambda: told.told == [(0, AriTimedOut)])
    assert rest.in_flight == 0 and observed.done[-1] == ("POST", "unavailable")

    assert rest.send_now("POST", "/channels/c8/continue", {"label": "shed"}, told)
    rest.on_closed()
    assert told.told[-1] == (0, AriUnavailable) and rest.in_flight == 0
    await _ready_again(rest, socket)
    socket.connected = False  # the write itself fails: nothing pending, nothing told
    assert not rest.send_now("POST", "/channels/c9/continue", {"label": "shed"}, told)
    assert len(told.told) == 2 and rest.in_flight == 0


async def test_a_callback_that_raises_is_logged_and_the_rest_are_told(
    caplog: pytest.LogCaptureFixture,
) -> None:
    socket = _Silent()
    rest = WsRest(socket, _NoHttp(), timeout=5.0, retry=RetryPolicy(1))
    await _ready(rest, socket)
    told = Told()

    def broken(status: int, error: Exception | None) -> None:
        raise RuntimeError("bug")

    assert rest.send_now("DELETE", "/channels/c1", None, broken)
    assert rest.send_now("DELETE", "/channels/c2", None, told)
    rest.on_closed()
    assert told.told == [(0, AriUnavailable)]
    assert "the callback of an answered request failed" in caplog.text


async def _ready_again(rest: WsRest, socket: _Silent) -> None:
    sent = len(socket.sent)
    probe = asyncio.create_task(rest.probe())
    await until(lambda: len(socket.sent) > sent)
    rid = orjson.loads(socket.sent[-1])["request_id"]
    rest.on_reply(f'{{"type":"RESTResponse","request_id":"{rid}","status_code":200}}')
    assert await probe
