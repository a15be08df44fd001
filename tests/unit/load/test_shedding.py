"""Load shedding (issue 15): beyond a limit, new calls go to their dialplan fallback."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from ivr.ari.call import Call
from ivr.ari.dispatcher import Dispatcher
from ivr.ari.errors import ChannelGone
from ivr.flows.router import FlowRouter
from ivr.load.busy import busy_file, write_busy_prompts
from ivr.load.gate import Limits, LoadGate
from ivr.load.lag import LoopLag
from ivr.metrics import Metrics
from ivr.texts import LANGUAGES
from tests.unit.fake_ari import FakeAri


def gate(limits: Limits, *, flows: int = 0, ari: int = 0, lag: float = 0.0) -> LoadGate:
    return LoadGate(limits, flows=lambda: flows, ari_inflight=lambda: ari, loop_lag=lambda: lag)


@pytest.mark.parametrize(
    ("load", "reason"),
    [
        ({}, None),
        ({"flows": 9}, None),
        ({"flows": 10}, "flows"),
        ({"ari": 51}, "ari"),
        ({"ari": 50}, None),
        ({"lag": 0.6}, "lag"),
        ({"flows": 10, "lag": 0.6}, "flows"),
    ],
)
def test_the_gate_sheds_beyond_each_limit(load: dict[str, float], reason: str | None) -> None:
    limits = Limits(max_flows=10, max_ari_inflight=50, max_loop_lag=0.5)
    assert gate(limits, **load).refuse("announcement") == reason  # type: ignore[arg-type]
    assert gate(limits, **load).refuse("menu") == reason  # type: ignore[arg-type]


def test_a_limit_of_zero_is_off_and_flows_without_a_fallback_are_never_shed() -> None:
    assert gate(Limits(), flows=10**6, ari=10**6, lag=60).refuse("announcement") is None
    assert gate(Limits(max_flows=1), flows=5).refuse("agent-login") is None


class Hold:
    name = "announcement"

    async def run(self, call: Call, tenant: str) -> None:
        await call.answer()
        await call.play("sound:long")
        await call.hangup()


def wired(limits: Limits) -> tuple[FakeAri, FlowRouter, Metrics]:
    fake = FakeAri(hold_media={"sound:long"})
    metrics = Metrics()
    router = FlowRouter({"announcement": Hold()}, events=metrics)
    router.admission = LoadGate(
        limits, flows=lambda: router.flows_running, ari_inflight=lambda: 0, loop_lag=lambda: 0.0
    )
    fake.attach(Dispatcher(fake, router.handle, app="linja"))
    return fake, router, metrics


async def test_calls_beyond_the_cap_continue_at_the_shed_label_and_are_counted() -> None:
    fake, router, metrics = wired(Limits(max_flows=2))
    for n in range(5):
        fake.start_call(f"c{n}", args=["announcement", "demo"])
    await fake.wait_until(lambda: len(fake.held_playbacks()) == 2)
    await fake.wait_until(lambda: len(fake.requests_to("POST", "/channels/c4/continue")) == 1)
    shed = {r[1] for r in fake.requests if r[1].endswith("/continue")}
    assert shed == {"/channels/c2/continue", "/channels/c3/continue", "/channels/c4/continue"}
    assert all(r[2] == {"label": "shed"} for r in fake.requests if r[1] in shed)
    assert not any(
        r[1].startswith(("/channels/c2/", "/channels/c3/")) and "play" in r[1]
        for r in fake.requests
    )
    assert router.shed == {"announcement": 3}
    text = metrics.render().decode()
    assert 'linja_calls_shed_total{flow="announcement",reason="flows"} 3.0' in text
    assert 'linja_calls_started_total{flow="announcement"} 2.0' in text

    fake.finish_playback()
    await fake.wait_calls_done()
    fake.start_call("c5", args=["announcement", "demo"])  # room again
    await fake.wait_until(lambda: fake.held_playbacks("c5"))
    assert router.shed == {"announcement": 3}
    fake.finish_playback()
    await fake.wait_calls_done()
    assert 'linja_calls_ended_total{flow="announcement"} 3.0' in metrics.render().decode()


async def test_a_shed_call_without_a_shed_label_is_hung_up() -> None:
    fake, _router, _ = wired(Limits(max_flows=1))
    fake.start_call("c0", args=["announcement", "demo"])
    await fake.wait_until(lambda: fake.held_playbacks("c0"))
    fake.set_response(
        "POST", "/channels/c1/continue", ChannelGone(404, "POST", "/x", "label not found")
    )
    fake.start_call("c1", args=["announcement", "demo"])
    await fake.wait_until(lambda: "c1" not in fake.channels)
    assert fake.requests_to("DELETE", "/channels/c1")[0][2] == {"reason": "congestion"}
    fake.finish_playback()
    await fake.wait_calls_done()


def test_loop_lag_shows_a_stall_at_once_and_fades() -> None:
    lag = LoopLag(decay=0.5)
    lag.observe(0.002)
    assert lag.seconds == 0.002
    lag.observe(0.8)
    assert lag.seconds == 0.8
    lag.observe(0.0)
    assert lag.seconds == pytest.approx(0.4)
    for _ in range(10):
        lag.observe(-0.001)
    assert lag.seconds < 0.001


async def test_loop_lag_measures_a_blocked_loop() -> None:
    lag = LoopLag(interval=0.01, decay=0.99)
    task = asyncio.create_task(lag.run())
    await asyncio.sleep(0.02)
    time.sleep(0.15)  # noqa: ASYNC251 - a handler hogging the loop
    await asyncio.sleep(0.03)
    task.cancel()
    assert lag.seconds >= 0.1


async def test_busy_prompts_are_rendered_once_per_language(tmp_path: Path) -> None:
    said: list[tuple[str, str]] = []

    async def speak(text: str, language: str) -> bytes:
        said.append((text, language))
        return f"RIFF {language} {text}".encode()

    written = await write_busy_prompts(tmp_path, speak)
    assert sorted(written) == sorted(busy_file(tmp_path, lang) for lang in LANGUAGES)
    assert b"press 1" in busy_file(tmp_path, "en").read_bytes()
    assert b"paina 1" in busy_file(tmp_path, "fi").read_bytes()
    assert await write_busy_prompts(tmp_path, speak) == []  # unchanged: kept


def test_metrics_count_ari_errors_and_retries_and_read_gauges_at_scrape_time() -> None:
    metrics = Metrics()
    depth = [3]
    metrics.gauge_from("linja_spool_pending", "pending", lambda: depth[0])
    metrics.request_done("POST", "204", 0.003)
    metrics.request_done("POST", "unavailable", 0.001)
    metrics.request_done("DELETE", "503", 0.01)
    metrics.request_done("DELETE", "404", 0.01)
    metrics.request_retried("DELETE")
    metrics.reconciled("adopt")
    depth[0] = 7
    text = metrics.render().decode()
    assert 'linja_ari_request_errors_total{method="POST",outcome="unavailable"} 1.0' in text
    assert 'linja_ari_request_errors_total{method="DELETE",outcome="503"} 1.0' in text
    assert 'outcome="404"' not in text
    assert 'linja_ari_request_seconds_count{method="POST"} 2.0' in text
    assert 'linja_ari_request_retries_total{method="DELETE"} 1.0' in text
    assert 'linja_reconciler_actions_total{action="adopt"} 1.0' in text
    assert "linja_spool_pending 7.0" in text
