"""Real SIP calls (SIPp) into the real Asterisk to the demo bulletin number 100."""

from __future__ import annotations

import asyncio
import hashlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr.ari.filters import FLOW_EVENTS
from ivr.audio import wav_duration
from ivr.config import Settings
from ivr.demo import DEMO_NUMBER
from storage.db import make_engine, session_factory
from storage.repositories.bulletins import BulletinRepository, CounterRepository
from tests.support import (
    BULLETIN_CALLER,
    Controller,
    ari_get,
    run_sipp,
    table_texts,
    wait_for,
)

pytestmark = pytest.mark.integration

# Asterisk plays 20 ms frames; the last partial frame of a file is not sent, and the
# 200 OK → BYE timer starts after the answer. A call is "at least as long as the bulletin"
# within this many seconds.
FRAME_SLACK_S = 0.05


def _active_duration(ctl: Controller) -> float:
    numbers = ctl.get("/api/bulletins")["numbers"]
    entry = next(n for n in numbers if n["number"] == DEMO_NUMBER)
    assert entry["active"], "the demo number should have an active bulletin"
    return float(sum(b["duration_s"] for b in entry["active"]))


def _fallback_file(settings: Settings) -> Path:
    return settings.in_root(settings.fallback_inner) / f"{DEMO_NUMBER}.wav"


async def _counter_total(settings: Settings) -> int:
    engine = make_engine(settings, pool_size=1)
    try:
        return sum((await CounterRepository(session_factory(engine)).totals(DEMO_NUMBER)).values())
    finally:
        await engine.dispose()


def test_callers_hear_the_whole_bulletin_and_leave_no_personal_data(
    stack: Settings, controller: Controller, no_live_channels: None, tmp_path: Path
) -> None:
    calls = 4
    duration = _active_duration(controller)
    before_events = controller.get("/api/stats")["events"]
    before_count = asyncio.run(_counter_total(stack))

    result = run_sipp("caller-hears-bulletin.xml", tmp_path, calls=calls, rate=4, settings=stack)

    assert result.returncode == 0, result.output + result.errors
    assert len(result.rtt_ms) == calls
    for ms in result.rtt_ms:
        assert ms / 1000 >= duration - FRAME_SLACK_S, (ms, duration)
    events = controller.get("/api/stats")["events"]
    for kind in ("StasisStart", "PlaybackStarted", "PlaybackFinished"):
        assert events.get(kind, 0) - before_events.get(kind, 0) == calls, (kind, events)
    # The application's event filter: nothing the flows do not use (was 5 ChannelVarset a call).
    assert set(events) <= set(FLOW_EVENTS), events
    finished = re.findall(r"\[([\w.]+)\] bulletin finished", controller.log())
    assert len(set(finished)) == calls
    wait_for(
        "counters to be flushed",
        lambda: asyncio.run(_counter_total(stack)) == before_count + calls,
        timeout=10,
        step=0.5,
    )
    assert BULLETIN_CALLER not in "\n".join(asyncio.run(table_texts(stack)).values())
    assert "Traceback" not in controller.log()


def test_caller_hanging_up_mid_bulletin_leaves_nothing_behind(
    stack: Settings, controller: Controller, no_live_channels: None, tmp_path: Path
) -> None:
    result = run_sipp("caller-hangs-up-mid-bulletin.xml", tmp_path, calls=3, rate=3, settings=stack)
    assert result.returncode == 0, result.output + result.errors
    wait_for("channels to drain", lambda: ari_get(stack, "/channels") == [], timeout=10)
    wait_for("flows to end", lambda: controller.get("/api/stats")["active_calls"] == 0)
    log = controller.log()
    assert "Traceback" not in log
    assert not [line for line in log.splitlines() if " ERROR " in line], log


def test_dialplan_plays_the_bulletin_when_the_controller_is_down(
    stack: Settings, controller: Controller, no_live_channels: None, tmp_path: Path
) -> None:
    fallback = _fallback_file(stack)
    expected = wav_duration(fallback.read_bytes())
    assert expected == pytest.approx(_active_duration(controller), abs=0.05)
    controller.stop()

    result = run_sipp("caller-hears-bulletin.xml", tmp_path, calls=2, rate=2, settings=stack)

    assert result.returncode == 0, result.output + result.errors
    assert len(result.rtt_ms) == 2
    for ms in result.rtt_ms:
        assert ms / 1000 >= expected - FRAME_SLACK_S, (ms, expected)


def test_fallback_follows_bulletin_changes_and_expiry(
    stack: Settings, controller: Controller
) -> None:
    fallback = _fallback_file(stack)

    def digest() -> str:
        return hashlib.sha256(fallback.read_bytes()).hexdigest()

    original = digest()
    original_len = wav_duration(fallback.read_bytes())

    async def add_short_bulletin() -> None:
        engine = make_engine(stack, pool_size=1)
        try:
            now = datetime.now(UTC)
            await BulletinRepository(session_factory(engine)).add(
                number=DEMO_NUMBER,
                language="en",
                text_="Water outage in Sipoo until noon.",
                audio=None,
                starts_at=now,
                ends_at=now + timedelta(seconds=4),
            )
        finally:
            await engine.dispose()

    asyncio.run(add_short_bulletin())
    wait_for("fallback to include the new bulletin", lambda: digest() != original, timeout=5)
    assert wav_duration(fallback.read_bytes()) > original_len + 1.0
    # Nobody touches it again: the controller rewrites it when the bulletin expires.
    wait_for("fallback to drop the expired bulletin", lambda: digest() == original, timeout=10)
