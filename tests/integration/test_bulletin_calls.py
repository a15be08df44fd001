"""Real SIP calls (SIPp) into the real Asterisk to the demo bulletin number 100."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
import urllib.error
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ivr.ari.filters import FLOW_EVENTS
from ivr.audio import wav_duration
from ivr.bench.rtp import RtpListener
from ivr.bench.sipp import timed_scenario
from ivr.bulletins.direct import PREFIX
from ivr.config import Settings
from ivr.demo import DEMO_NUMBER
from storage.db import make_engine, session_factory
from storage.repositories.bulletins import BulletinRepository, BulletinView, CounterRepository
from tests.support import (
    BULLETIN_CALLER,
    Controller,
    ari_get,
    ari_send,
    run_sipp,
    sql,
    table_texts,
    wait_for,
)

pytestmark = pytest.mark.integration

# Asterisk plays 20 ms frames; the last partial frame of a file is not sent, and the
# 200 OK → BYE timer starts after the answer. A call is "at least as long as the bulletin"
# within this many seconds.
FRAME_SLACK_S = 0.05
# First to last RTP packet of a call is one frame short of the file, plus jitter under load.
RTP_SLACK_S = 0.1


def _active(ctl: Controller) -> list[dict[str, Any]]:
    numbers = ctl.get("/api/bulletins")["numbers"]
    entry = next(n for n in numbers if n["number"] == DEMO_NUMBER)
    assert entry["active"], "the demo number should have an active bulletin"
    return list(entry["active"])


def _active_duration(ctl: Controller) -> float:
    return float(sum(b["duration_s"] for b in _active(ctl)))


def _fallback_file(settings: Settings) -> Path:
    return settings.in_root(settings.fallback_inner) / f"{DEMO_NUMBER}.wav"


async def _counter_total(settings: Settings) -> int:
    engine = make_engine(settings, pool_size=1)
    try:
        return sum((await CounterRepository(session_factory(engine)).totals(DEMO_NUMBER)).values())
    finally:
        await engine.dispose()


def _wait_counted(settings: Settings, total: int, what: str, timeout: float = 10) -> None:
    """Until the stored call counters of 100 add up to ``total``."""
    wait_for(what, lambda: asyncio.run(_counter_total(settings)) == total, timeout, step=0.5)


def _no_caller_data_nor_traceback(settings: Settings, controller: Controller) -> None:
    assert BULLETIN_CALLER not in "\n".join(asyncio.run(table_texts(settings)).values())
    assert "Traceback" not in controller.log()


def _active_duration_of_file(settings: Settings) -> float:
    return wav_duration(_fallback_file(settings).read_bytes())


def _all_hear_it_all(workdir: Path, settings: Settings, calls: int, duration: float) -> None:
    """``calls`` callers to 100, each hearing at least ``duration`` seconds of audio."""
    spans = _calls_heard(workdir, settings, calls=calls)
    assert len(spans) == calls, spans
    for span in spans:
        assert span >= duration - RTP_SLACK_S, (spans, duration)


def _calls_heard(workdir: Path, settings: Settings, *, calls: int) -> list[float]:
    """SIPp ``calls`` callers to 100 whose SDP names our RTP listener; per call (Asterisk
    sends each from its own RTP port) how long its audio lasted, first packet to last."""
    workdir.mkdir(parents=True, exist_ok=True)
    listener = RtpListener()
    listener.start()
    try:
        scenario = timed_scenario(workdir, rtp_port=listener.port)
        result = run_sipp(
            str(scenario), workdir, calls=calls, rate=calls, settings=settings,
            extra=["-trace_logs"],
        )  # fmt: skip
    finally:
        listener.stop()
    assert result.returncode == 0, result.output + result.errors
    return sorted(t[-1] - t[0] for t in listener.arrivals.values() if len(t) > 1)


def _direct(settings: Settings) -> str:
    """The global that lets the dialplan serve 100 alone (ivr/bulletins/direct.py)."""
    try:
        got = ari_get(settings, f"/asterisk/variable?variable={PREFIX}{DEMO_NUMBER}")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:  # never set on this Asterisk
            return ""
        raise
    return str(got.get("value", ""))


def _set_direct(settings: Settings, value: str) -> None:
    query = urllib.parse.urlencode({"variable": PREFIX + DEMO_NUMBER, "value": value})
    ari_send(settings, "POST", f"/asterisk/variable?{query}")


def _heard_dir(settings: Settings) -> Path:
    return settings.in_root(settings.heard_inner)


def _channels_named(log: str) -> list[str]:
    """Channels named by the one-a-second "playing ... from its fallback file" lines."""
    lines = re.findall(r"\[([\w.,]+)\] playing \d+ item\(s\) on 100 .* from its fallback file", log)
    return [cid for ids in lines for cid in ids.split(",")]


def test_the_dialplan_serves_a_current_bulletin_alone_and_the_controller_counts_it(
    stack: Settings, controller: Controller, no_live_channels: None, tmp_path: Path
) -> None:
    """While 100's fallback file is current the dialplan answers and plays it with no Stasis
    and no ARI request; the controller counts each call from the dialplan's heard file (no
    caller data in it) and names each channel in its log. A global whose second has passed
    sends the call to Stasis again."""
    calls = 4
    duration = _active_duration(controller)
    wait_for("the direct route published", lambda: _direct(stack) != "", timeout=10)
    until, counted = _direct(stack).split(":", 1)
    (row,) = sql(stack, "SELECT id::text AS id FROM service_numbers WHERE number = $1", "100")
    active = [b["id"] for b in _active(controller)]
    assert int(until) > time.time() and counted == f"{row['id']} {','.join(active)}", counted
    before_events = controller.get("/api/stats")["events"]
    before_count = asyncio.run(_counter_total(stack))

    _all_hear_it_all(tmp_path / "direct", stack, calls, duration)
    _wait_counted(stack, before_count + calls, "the calls counted", timeout=10)
    events = controller.get("/api/stats")["events"]
    assert events.get("StasisStart", 0) == before_events.get("StasisStart", 0), events
    assert set(events) <= set(FLOW_EVENTS), events
    wait_for("each channel named", lambda: len(set(_channels_named(controller.log()))) == calls)
    wait_for("the heard files emptied", lambda: list(_heard_dir(stack).iterdir()) == [])

    # The second of the global passed (a boundary the controller has not acted on yet): the
    # call goes to Stasis, where the fast path hands it to the same file.
    kept = _direct(stack)
    _set_direct(stack, f"1:{counted}")
    try:
        _all_hear_it_all(tmp_path / "stasis", stack, 1, duration)
    finally:
        _set_direct(stack, kept)
    events = controller.get("/api/stats")["events"]
    assert events.get("StasisStart", 0) == before_events.get("StasisStart", 0) + 1, events
    _wait_counted(stack, before_count + calls + 1, "that call counted too", timeout=10)
    _no_caller_data_nor_traceback(stack, controller)


def test_calls_the_dialplan_served_while_the_controller_was_dead_are_counted_by_the_next(
    stack: Settings, controller: Controller, no_live_channels: None, tmp_path: Path
) -> None:
    wait_for("the direct route published", lambda: _direct(stack) != "", timeout=10)
    before_count = asyncio.run(_counter_total(stack))
    assert controller.kill() is not None
    _all_hear_it_all(tmp_path / "dead", stack, 3, _active_duration_of_file(stack))
    heard = "".join(p.read_text() for p in _heard_dir(stack).iterdir())
    assert len(heard.splitlines()) == 3, heard
    assert BULLETIN_CALLER not in heard and "From" not in heard  # no caller data
    assert asyncio.run(_counter_total(stack)) == before_count
    controller.start()
    _wait_counted(stack, before_count + 3, "the next controller to count them", timeout=15)
    wait_for("the heard files emptied", lambda: list(_heard_dir(stack).iterdir()) == [])


def test_callers_hear_the_whole_bulletin_and_leave_no_personal_data(
    stack: Settings, no_live_channels: None, tmp_path: Path
) -> None:
    """With the dialplan's direct route off (LINJA_BULLETIN_DIRECT=false) every call comes to
    the controller. The lean path: each call is counted and handed to the dialplan in one ARI
    request, and its caller hears the whole fallback file; with that file gone, the same call
    is played through ARI (answer, play, hang up) as before, and counted the same."""
    controller = Controller(
        stack, tmp_path / "controller.log", env={"LINJA_BULLETIN_DIRECT": "false"}
    )
    controller.start()
    try:
        _stasis_paths(stack, controller, tmp_path)
    finally:
        controller.stop()


def _stasis_paths(stack: Settings, controller: Controller, tmp_path: Path) -> None:
    assert _direct(stack) == ""  # emptied by this controller before it served a call
    calls = 4
    duration = _active_duration(controller)
    before_events = controller.get("/api/stats")["events"]
    before_count = asyncio.run(_counter_total(stack))

    _all_hear_it_all(tmp_path / "lean", stack, calls, duration)
    events = controller.get("/api/stats")["events"]
    assert events.get("StasisStart", 0) - before_events.get("StasisStart", 0) == calls, events
    # the dialplan played it: no playback through ARI
    assert events.get("PlaybackStarted", 0) == before_events.get("PlaybackStarted", 0), events
    # The application's event filter: nothing the flows do not use (was 5 ChannelVarset a call).
    assert set(events) <= set(FLOW_EVENTS), events
    # one line a second names every channel handed to the fallback file (ivr/flows/fastpath.py)
    wait_for("each channel named", lambda: len(set(_channels_named(controller.log()))) == calls)
    lean = _channels_named(controller.log())
    # ... each with its one request over the event websocket, answered there (a filter that
    # drops RESTResponse, or an Asterisk without REST over websocket, fails the probe)
    assert "ARI requests for the fast path go over the event websocket" in controller.log()
    assert "using HTTP only" not in controller.log()

    # Its fallback file missing: played through ARI, as before the lean path (this caller
    # hangs up 2 s in: the test's time budget).
    fallback = _fallback_file(stack)
    hidden = fallback.with_name("hidden-for-test.wav")
    fallback.rename(hidden)
    try:
        result = run_sipp("caller-hangs-up-mid-bulletin.xml", tmp_path / "ari", settings=stack)
    finally:
        hidden.rename(fallback)
    assert result.returncode == 0, result.output + result.errors
    wait_for("the call to end", lambda: controller.get("/api/stats")["active_calls"] == 0)
    events = controller.get("/api/stats")["events"]
    assert events.get("PlaybackStarted", 0) - before_events.get("PlaybackStarted", 0) == 1, events
    played = re.findall(r"\[([\w.]+)\] playing \d+ item\(s\) on 100 \(bulletins [^)]*\)$",
                        controller.log(), re.M)  # fmt: skip
    assert len(set(played)) == 1 and not set(played) & set(lean), (played, lean)

    _wait_counted(stack, before_count + calls + 1, "counters to be flushed", timeout=10)
    _no_caller_data_nor_traceback(stack, controller)


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
    wait_for("the direct route published", lambda: _direct(stack) != "", timeout=10)
    direct_before = _direct(stack)

    async def add_short_bulletin() -> BulletinView:
        engine = make_engine(stack, pool_size=1)
        try:
            now = datetime.now(UTC)
            return await BulletinRepository(session_factory(engine)).add(
                number=DEMO_NUMBER,
                language="en",
                text_="Water outage in Sipoo until noon.",
                audio=None,
                starts_at=now,
                ends_at=now + timedelta(seconds=4),
            )
        finally:
            await engine.dispose()

    added = asyncio.run(add_short_bulletin())
    wait_for("fallback to include the new bulletin", lambda: digest() != original, timeout=5)
    assert wav_duration(fallback.read_bytes()) > original_len + 1.0
    # The dialplan's direct route counts its calls as hearing it, until it ends.
    wait_for("the direct route to name it", lambda: str(added.id) in _direct(stack), timeout=5)
    ends = int(_direct(stack).split(":")[0])
    assert ends <= time.time() + 4, (ends, _direct(stack))
    # Nobody touches it again: the controller rewrites it when the bulletin expires.
    wait_for("fallback to drop the expired bulletin", lambda: digest() == original, timeout=10)
    wait_for("the route as before", lambda: _direct(stack) == direct_before, timeout=5)
