"""EventStream against the simulated ARI websocket."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import pytest

from ivr.ari.events import EventStream, events_url
from tests.unit.ari.sim_ari import PASSWORD, USER, SimAri
from tests.unit.ari.util import until

EVENTS_LOGGER = "ivr.ari.events"


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.connected: list[bool] = []

    def on_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    async def on_connected(self, reconnected: bool) -> None:
        self.connected.append(reconnected)


@asynccontextmanager
async def running(stream: EventStream) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(stream.run())
    try:
        yield task
    finally:
        await stream.stop()
        await asyncio.wait_for(task, 2.0)


def _attempts_at_least(sim: SimAri, n: int) -> bool:
    return len(sim.ws_attempts) >= n


def _stream(sim: SimAri, rec: Recorder, password: str = PASSWORD, **kw: Any) -> EventStream:
    kw.setdefault("backoff_initial", 0.05)
    kw.setdefault("backoff_max", 0.4)
    kw.setdefault("stable_after", 0.1)
    return EventStream(
        sim.base_url,
        USER,
        password,
        "linja",
        on_event=rec.on_event,
        on_connected=rec.on_connected,
        **kw,
    )


def test_events_url() -> None:
    assert events_url("http://127.0.0.1:8088/ari") == "ws://127.0.0.1:8088/ari/events"
    assert events_url("https://pbx/ari/") == "wss://pbx/ari/events"


async def test_receives_events_in_order_with_auth_header(sim: SimAri) -> None:
    rec = Recorder()
    stream = _stream(sim, rec)
    async with running(stream) as task:
        assert await stream.wait_connected(2.0)
        await until(lambda: rec.connected == [False])
        for i in range(50):
            await sim.emit({"type": "Test", "n": i})
        await until(lambda: len(rec.events) == 50)
        assert [e["n"] for e in rec.events] == list(range(50))
    assert task.done() and task.exception() is None
    handshake = sim.seen[0]
    assert handshake.url == "/ari/events?app=linja&subscribeAll=false"
    assert handshake.authorization is not None and handshake.authorization.startswith("Basic ")


async def test_reader_survives_bad_messages_and_failing_callback(sim: SimAri) -> None:
    got: list[dict[str, Any]] = []

    def on_event(event: dict[str, Any]) -> None:
        if event.get("boom"):
            raise RuntimeError("handler bug")
        got.append(event)

    stream = EventStream(sim.base_url, USER, PASSWORD, "linja", on_event=on_event)
    async with running(stream):
        assert await stream.wait_connected(2.0)
        ws = next(iter(sim.sockets))
        await ws.send_str("not json")
        await ws.send_str("[1, 2]")
        await sim.emit({"type": "X", "boom": True})
        await sim.emit({"type": "Y"})
        await until(lambda: got == [{"type": "Y"}])
    assert sim.ws_connects == 1


async def test_drop_reconnects_with_backoff_and_one_warning(
    sim: SimAri, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=EVENTS_LOGGER)
    rec = Recorder()
    stream = _stream(sim, rec)
    async with running(stream):
        assert await stream.wait_connected(2.0)
        await until(lambda: rec.connected == [False])

        sim.ws_accepting = False
        attempts_before = len(sim.ws_attempts)
        await sim.drop_websockets()
        await until(lambda: len(sim.ws_attempts) >= attempts_before + 5, within=3.0)
        assert not stream.connected
        sim.ws_accepting = True
        await sim.wait_ws(2.0)
        await until(lambda: rec.connected == [False, True])
        assert stream.connected

        await sim.emit({"type": "AfterReconnect"})
        await until(lambda: rec.events[-1:] == [{"type": "AfterReconnect"}])

    # attempts[0] connected, attempts[1] is the first retry after the drop; the k-th gap
    # after that is the sleep before retry k+2: backoff 0.05 * 2**(k+1) capped at 0.4,
    # times a jitter factor in [0.5, 1] (plus a little handshake/scheduling time).
    gaps = [b - a for a, b in zip(sim.ws_attempts, sim.ws_attempts[1:], strict=False)][1:]
    assert len(gaps) >= 5
    for k, gap in enumerate(gaps):
        backoff = min(0.05 * 2 ** (k + 1), 0.4)
        assert 0.5 * backoff - 0.01 <= gap <= backoff + 0.1, (k, gap, gaps)

    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "lost" in warnings[0].getMessage()
    assert any("reconnected after" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("stable_after", "expect_reset"), [(0.05, True), (10.0, False)])
async def test_backoff_resets_only_after_a_stable_connection(
    sim: SimAri, stable_after: float, expect_reset: bool
) -> None:
    rec = Recorder()
    stream = _stream(sim, rec, backoff_initial=0.02, backoff_max=0.3, stable_after=stable_after)
    loop = asyncio.get_running_loop()
    first_retry: list[float] = []
    async with running(stream):
        for _ in range(2):
            await sim.wait_ws(2.0)
            await asyncio.sleep(0.1)  # up for longer than 0.05 s, shorter than 10 s
            sim.ws_accepting = False
            first = len(sim.ws_attempts)
            dropped = loop.time()
            await sim.drop_websockets()
            await until(partial(_attempts_at_least, sim, first + 3), within=3.0)
            first_retry.append(sim.ws_attempts[first] - dropped)
            sim.ws_accepting = True
        await sim.wait_ws(2.0)
        await until(lambda: rec.connected == [False, True, True])
    assert first_retry[0] < 0.1  # 0.02 s initial backoff (+ slack)
    if expect_reset:
        assert first_retry[1] < 0.1
    else:  # a connection that was up only briefly continues the outage's backoff
        assert first_retry[1] >= 0.14


async def test_wrong_password_retries_quietly_and_never_logs_it(
    sim: SimAri, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rec = Recorder()
    stream = _stream(sim, rec, password="wrong-" + PASSWORD)
    async with running(stream):
        await until(lambda: len(sim.seen) >= 4, within=3.0)
        assert not stream.connected
    assert rec.connected == []
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "401" in warnings[0].getMessage()
    for record in caplog.records:
        assert PASSWORD not in record.getMessage()


async def test_stop_while_waiting_to_reconnect_is_prompt(sim: SimAri) -> None:
    rec = Recorder()
    stream = _stream(sim, rec, backoff_initial=5.0, backoff_max=5.0)
    sim.ws_accepting = False
    task = asyncio.create_task(stream.run())
    await until(lambda: len(sim.ws_attempts) == 1)
    await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await stream.stop()
    await asyncio.wait_for(task, 1.0)
    assert loop.time() - started < 0.5
    assert not await stream.wait_connected(0.01)
