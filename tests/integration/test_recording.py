"""Call recording and voice messages on the real stack: SIPp callers and agents sending real
speech (g711a.pcap), Asterisk recording the bridge, files in the audio store, rows in Postgres.

The demo's queue ``desk`` (menu option 5) records; option 4 takes a voice message for the
``support`` box.
"""

from __future__ import annotations

import array
import asyncio
import hashlib
import io
import json
import math
import os
import signal
import time
import urllib.error
import urllib.request
import uuid
import wave
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from ivr.config import Settings
from ivr.stack.asterisk import AsteriskServer
from storage.db import make_engine, session_factory
from storage.domain import Actor
from storage.repositories.restrictions import RestrictionRepository
from storage.repositories.tenants import TenantRepository
from tests.support import (
    CALLER_NUMBER,
    AgentPhone,
    Controller,
    SippResult,
    ari_delete,
    ari_get,
    basic_auth,
    ensure_demo_admin,
    fetch_rows,
    read_stamp,
    run_sipp,
    wait_for,
)

pytestmark = pytest.mark.integration

MENU = "200"
ADMIN = "rec-test-admin"
ADMIN_PASSWORD = "test-" + uuid.uuid4().hex
RMS_FLOOR = 0.01  # of full scale; digital silence is 0, the pcap's speech is ~0.06


async def _ensure_admin(settings: Settings) -> None:
    await ensure_demo_admin(settings, ADMIN, ADMIN_PASSWORD)


async def _restrict_caller(settings: Settings, on: bool) -> None:
    """Restrict (or lift the restriction of) the test caller's number in the demo tenant."""
    engine = make_engine(settings, owner=True, pool_size=1)
    try:
        sessions = session_factory(engine)
        tenant = await TenantRepository(sessions).by_slug("demo")
        repo = RestrictionRepository(sessions)
        actor = Actor.system("tests")
        if on:
            await repo.restrict(tenant.id, actor, number=CALLER_NUMBER, reason="recording test")
        else:
            await repo.lift(tenant.id, actor, number=CALLER_NUMBER)
    finally:
        await engine.dispose()


def api(ctl: Controller, method: str, path: str) -> tuple[int, Any]:
    req = urllib.request.Request(
        ctl.url(path), method=method, headers=basic_auth(ADMIN, ADMIN_PASSWORD)
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


@pytest.fixture
def desk(stack: Settings, controller: Controller) -> Iterator[Controller]:
    asyncio.run(_ensure_admin(stack))
    try:
        yield controller
    finally:
        for agent in ("agent1", "agent2", "agent3"):
            api(controller, "POST", f"/api/agents/{agent}/logout")


def _latest_case(settings: Settings, since: float, number: str = MENU) -> asyncpg.Record | None:
    rows = asyncio.run(
        fetch_rows(
            settings,
            "SELECT * FROM cases WHERE service_number = $1"
            " AND started_at >= to_timestamp($2) ORDER BY started_at DESC LIMIT 1",
            number,
            since,
        )
    )
    return rows[0] if rows and rows[0]["ended_at"] is not None else None


def _audio_rows(settings: Settings, table: str, case_id: uuid.UUID) -> list[asyncpg.Record]:
    assert table in ("recordings", "voice_messages")
    return asyncio.run(fetch_rows(settings, f"SELECT * FROM {table} WHERE case_id = $1", case_id))


def _recordings_started(ctl: Controller) -> int:
    """How many recordings Asterisk has started for this controller (ARI RecordingStarted
    events, voice messages and bridge recordings alike)."""
    return int(ctl.get("/api/stats")["events"].get("RecordingStarted", 0))


def _ari_knows_app(settings: Settings) -> bool:
    """Asterisk has the controller's Stasis application: a fresh Asterisk has it only once
    the controller's event websocket has connected to it."""
    try:
        return bool(ari_get(settings, f"/applications/{settings.ari_app}"))
    except (urllib.error.URLError, OSError):  # 404 (not connected yet) or Asterisk not up
        return False


def _rms(path: Path) -> float:
    """Root mean square of a 16-bit wav, as a fraction of full scale."""
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2
        samples = array.array("h", w.readframes(w.getnframes()))
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples)) / 32768


def _check_audio(settings: Settings, row: asyncpg.Record) -> Path:
    """The row's file exists where the row says, with the row's size and checksum."""
    path = settings.audio_store_dir / row["location"]
    assert path.is_file(), path
    data = path.read_bytes()
    assert len(data) == row["size_bytes"] > 44
    assert hashlib.sha256(data).hexdigest() == row["sha256"]
    with wave.open(str(path), "rb") as w:  # a playable wav: 8 kHz mono 16-bit
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert abs(w.getnframes() / 8000 - row["duration"].total_seconds()) < 0.01
    return path


def _call_desk(
    stack: Settings,
    tmp_path: Path,
    agent: str,
    talk_ms: int,
    during: Any = None,
    *,
    number: str = MENU,
    digit: str = "5",
) -> tuple[AgentPhone, float]:
    """Caller picks 5 (recorded desk queue), ``agent`` answers and both talk for talk_ms.
    ``during(phone)`` runs while the call is up. Returns the phone and the start time."""
    since = time.time() - 1
    phone = AgentPhone(stack, agent, "agent-answers-and-talks.xml", tmp_path, talk_ms=talk_ms)
    try:
        with ThreadPoolExecutor(1) as pool:
            caller = pool.submit(
                run_sipp,
                "caller-talks-to-agent.xml",
                tmp_path / "caller",
                service=number,
                settings=stack,
                timeout=60,
                extra=["-key", "digit", digit, "-d", "3000"],
            )
            if during is not None:
                during(phone)
            result = caller.result(timeout=90)
        code, out = phone.wait()
    finally:
        phone.close()
    assert result.returncode == 0, result.output + result.errors
    assert code == 0, out
    return phone, since


def _recorded_call_under_way(
    pool: ThreadPoolExecutor, stack: Settings, desk: Controller, tmp_path: Path, *, timeout: int
) -> tuple[Future[SippResult], uuid.UUID]:
    """A caller picks the recorded desk queue (an agent must be logged in); returns the
    caller's SIPp run and the case id once the conversation is being recorded."""
    caller = pool.submit(
        run_sipp, "caller-talks-to-agent.xml", tmp_path / "caller", service=MENU,
        settings=stack, timeout=timeout, extra=["-key", "digit", "5", "-d", "3000"],
    )  # fmt: skip
    live = wait_for(
        "a live recording", lambda: api(desk, "GET", "/api/recordings/live")[1] or None, 30
    )
    return caller, uuid.UUID(live[0]["case_id"])


def test_recorded_call_has_notice_first_real_audio_and_complete_metadata(
    stack: Settings, desk: Controller, tmp_path: Path
) -> None:
    assert api(desk, "POST", "/api/agents/agent2/login")[0] == 200
    started = _recordings_started(desk)
    phone, since = _call_desk(stack, tmp_path, "agent2", talk_ms=4000)
    bridged = read_stamp(phone.workdir, "bye") - read_stamp(phone.workdir, "answered")

    case = wait_for("the case row", lambda: _latest_case(stack, since), timeout=15, step=0.3)
    (rec,) = wait_for(
        "the recording row", lambda: _audio_rows(stack, "recordings", case["id"]) or None, 10
    )
    assert _recordings_started(desk) == started + 1  # what the unrecorded tests count on
    assert rec["status"] == "completed" and rec["failure_reason"] is None
    assert rec["tenant_id"] == case["tenant_id"] and rec["case_id"] == case["id"]
    assert rec["name"].startswith("rec-")
    assert json.loads(rec["pauses"]) == []
    assert rec["completed_at"] >= rec["started_at"]
    # The notice played to its end before the recording started.
    assert rec["notice_played_at"] is not None
    assert rec["started_at"] > rec["notice_played_at"]
    # The recording starts once the notice has played and Asterisk has started it: on a
    # loaded machine (4 test workers on 2 cores) that can take more than a second.
    assert bridged - 2.0 <= rec["duration"].total_seconds() <= bridged + 0.5, (
        rec["duration"], bridged,
    )  # fmt: skip
    path = _check_audio(stack, rec)
    assert _rms(path) > RMS_FLOOR, _rms(path)
    log = desk.log()
    assert log.index("recording notice played") < log.index("recording bridge b-")
    assert not list(stack.in_root(stack.recordings_inner).glob(f"{rec['name']}*"))
    wait_for("no channels left", lambda: ari_get(stack, "/channels") == [], timeout=10)
    assert "Traceback" not in log


def test_pause_and_resume_show_in_metadata_and_cut_the_audio(
    stack: Settings, desk: Controller, tmp_path: Path
) -> None:
    assert api(desk, "POST", "/api/agents/agent2/login")[0] == 200
    pause_for = 2.0
    marks: dict[str, Any] = {}

    def pause_then_resume(phone: AgentPhone) -> None:
        live = wait_for(
            "a live recording", lambda: api(desk, "GET", "/api/recordings/live")[1] or None, 30
        )
        case_id = live[0]["case_id"]
        time.sleep(1.0)
        marks["pause_sent"] = time.monotonic()
        status, body = api(desk, "POST", f"/api/calls/{case_id}/recording/pause")
        marks["pause_done"] = time.monotonic()
        assert status == 200 and body["paused"], body
        assert api(desk, "POST", f"/api/calls/{case_id}/recording/pause")[0] == 409
        time.sleep(pause_for)
        marks["resume_sent"] = time.monotonic()
        status, body = api(desk, "POST", f"/api/calls/{case_id}/recording/resume")
        marks["resume_done"] = time.monotonic()
        assert status == 200 and not body["paused"] and len(body["pauses"]) == 1, body
        assert api(desk, "POST", f"/api/calls/{case_id}/recording/resume")[0] == 409
        marks["case_id"] = case_id

    # 10 s of talk: the pause and resume (about 3 s after the recording shows up live) must
    # fit in the call even when the recording starts late on a loaded machine.
    phone, _since = _call_desk(stack, tmp_path, "agent2", talk_ms=10000, during=pause_then_resume)
    bridged = read_stamp(phone.workdir, "bye") - read_stamp(phone.workdir, "answered")
    case_id = uuid.UUID(marks["case_id"])
    (rec,) = wait_for(
        "the recording row", lambda: _audio_rows(stack, "recordings", case_id) or None, 15
    )
    assert rec["status"] == "completed"
    (pause,) = json.loads(rec["pauses"])
    assert 0.8 <= pause["start"] <= 2.0, pause
    paused = pause["end"] - pause["start"]
    # The pause lasted from some time during the pause request to some time during the
    # resume request (each includes a password check).
    shortest = marks["resume_sent"] - marks["pause_done"]
    longest = marks["resume_done"] - marks["pause_sent"]
    assert pause_for <= shortest and shortest - 0.05 <= paused <= longest + 0.05, (
        pause, shortest, longest,
    )  # fmt: skip
    # Asterisk cuts paused audio: the file is shorter than the call by the pause.
    assert -2.0 <= rec["duration"].total_seconds() - (bridged - paused) <= 0.5, (
        rec["duration"],
        bridged,
        paused,
    )
    _check_audio(stack, rec)
    # After the call: nothing live, and the API says so.
    assert api(desk, "POST", f"/api/calls/{case_id}/recording/pause")[0] == 404
    assert api(desk, "POST", "/api/calls/not-a-uuid/recording/pause")[0] == 400
    wait_for("no channels left", lambda: ari_get(stack, "/channels") == [], timeout=10)


def _message_from_menu(
    stack: Settings, tmp_path: Path, scenario: str, *, timeout: int, pause_ms: int
) -> tuple[asyncpg.Record, asyncpg.Record]:
    """A caller picks 4 (voice message for the support box) and runs ``scenario``; returns
    the case, whose outcome must be voicemail, and its one voice message row."""
    since = time.time() - 1
    result = run_sipp(
        scenario,
        tmp_path,
        service=MENU,
        settings=stack,
        timeout=timeout,
        extra=["-key", "digit", "4", "-d", str(pause_ms)],
    )
    assert result.returncode == 0, result.output + result.errors
    case = wait_for("the case row", lambda: _latest_case(stack, since), timeout=15, step=0.3)
    assert case["outcome"] == "voicemail"
    (msg,) = wait_for(
        "the voice message row", lambda: _audio_rows(stack, "voice_messages", case["id"]) or None
    )
    return case, msg


def test_voice_message_from_the_menu_lands_with_metadata_and_plays(
    stack: Settings, desk: Controller, tmp_path: Path
) -> None:
    started = _recordings_started(desk)
    case, msg = _message_from_menu(
        stack, tmp_path, "caller-leaves-voice-message.xml", timeout=60, pause_ms=2000
    )
    assert _recordings_started(desk) == started + 1  # what the unrecorded tests count on
    assert msg["status"] == "completed" and msg["failure_reason"] is None
    assert msg["box"] == "support"
    assert msg["tenant_id"] == case["tenant_id"]
    assert msg["name"].startswith("vm-")
    # From the beep to the #: the caller spoke for part of it.
    spoke = read_stamp(tmp_path, "hash") - read_stamp(tmp_path, "dtmf")
    assert 1.0 <= msg["duration"].total_seconds() <= spoke, (msg["duration"], spoke)
    path = _check_audio(stack, msg)
    assert _rms(path) > RMS_FLOOR, _rms(path)
    # Playable through the listening API, as a tenant admin would.
    req = urllib.request.Request(
        desk.url(f"/api/voice-messages/{msg['id']}/audio?format=wav&mode=play"),
        headers=basic_auth(ADMIN, ADMIN_PASSWORD),
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
        played = resp.read()
    with wave.open(io.BytesIO(played), "rb") as w:
        assert abs(w.getnframes() / w.getframerate() - msg["duration"].total_seconds()) < 0.05
    wait_for("no channels left", lambda: ari_get(stack, "/channels") == [], timeout=10)
    assert "Traceback" not in desk.log()


def test_a_caller_under_processing_restriction_leaves_no_voice_message(
    stack: Settings, desk: Controller, tmp_path: Path
) -> None:
    """Issue 7: a restriction means no new recordings linked to the person; the caller who
    picks the voice message option is told so and hung up, and nothing is recorded."""
    since = time.time() - 1
    started = _recordings_started(desk)
    asyncio.run(_restrict_caller(stack, True))
    try:
        result = run_sipp(
            "caller-picks-by-info.xml",
            tmp_path,
            service=MENU,
            settings=stack,
            timeout=40,
            extra=["-key", "digit", "4"],
        )
    finally:
        asyncio.run(_restrict_caller(stack, False))
    assert result.returncode == 0, result.output + result.errors  # hung up by the service
    case = wait_for("the case row", lambda: _latest_case(stack, since), timeout=15, step=0.3)
    assert case["outcome"] == "closed"
    assert "processing restricted: no voice message" in desk.log()
    # The case row is closed: the flow emits a voice message before it ends the case, and
    # the recorder writes a case with its audio rows in one transaction; and Asterisk never
    # started recording the caller.
    assert _audio_rows(stack, "voice_messages", case["id"]) == []
    assert _recordings_started(desk) == started
    wait_for("no channels left", lambda: ari_get(stack, "/channels") == [], timeout=10)


def test_caller_hanging_up_during_the_notice_is_never_recorded(
    stack: Settings, desk: Controller, tmp_path: Path
) -> None:
    # agent3 is logged in (so the queue takes the call) but has no phone: nobody answers.
    assert api(desk, "POST", "/api/agents/agent3/login")[0] == 200
    since = time.time() - 1
    result = run_sipp(
        "caller-picks-then-hangs-up.xml",
        tmp_path,
        service=MENU,
        settings=stack,
        timeout=30,
        extra=["-key", "digit", "5", "-d", "1000"],
    )
    assert result.returncode == 0, result.output + result.errors
    case = wait_for("the case row", lambda: _latest_case(stack, since), timeout=15, step=0.3)
    assert case["outcome"] == "abandoned"
    log = desk.log()
    assert "playing the recording notice" in log
    assert "recording notice played" not in log
    assert _audio_rows(stack, "recordings", case["id"]) == []
    wait_for("no channels left", lambda: ari_get(stack, "/channels") == [], timeout=10)
    wait_for("no flows left", lambda: desk.get("/api/stats")["active_calls"] == 0)


def test_caller_hanging_up_mid_message_keeps_the_message(
    stack: Settings, desk: Controller, tmp_path: Path
) -> None:
    _case, msg = _message_from_menu(
        stack, tmp_path, "caller-picks-then-hangs-up.xml", timeout=30, pause_ms=7000
    )
    assert msg["status"] == "completed"
    spoke = read_stamp(tmp_path, "hangup") - read_stamp(tmp_path, "dtmf")
    # How much of the speech lands depends on when the prompt before the tone ended, which
    # on a loaded machine (4 test workers on 2 cores) can be late: kept is what counts.
    assert 0 < msg["duration"].total_seconds() <= spoke, (msg["duration"], spoke)
    assert _rms(_check_audio(stack, msg)) > RMS_FLOOR
    wait_for("no channels left", lambda: ari_get(stack, "/channels") == [], timeout=10)


def test_a_recording_asterisk_cannot_write_lands_as_failed_with_the_reason(
    stack: Settings, desk: Controller, tmp_path: Path
) -> None:
    """Asterisk's recording directory made read-only for the length of one call."""
    spool = stack.in_root(stack.recordings_inner)
    mode = spool.stat().st_mode & 0o7777
    assert api(desk, "POST", "/api/agents/agent2/login")[0] == 200
    spool.chmod(0o555)
    try:
        _phone, since = _call_desk(stack, tmp_path, "agent2", talk_ms=3000)
    finally:
        spool.chmod(mode)
    case = wait_for("the case row", lambda: _latest_case(stack, since), timeout=15, step=0.3)
    assert case["outcome"] == "answered"  # the conversation itself went on
    (rec,) = wait_for(
        "the recording row", lambda: _audio_rows(stack, "recordings", case["id"]) or None, 15
    )
    assert rec["status"] == "failed"
    assert rec["failure_reason"], rec
    assert rec["notice_played_at"] is not None
    assert not (stack.audio_store_dir / rec["location"]).exists() or rec["size_bytes"] > 0
    wait_for("no channels left", lambda: ari_get(stack, "/channels") == [], timeout=10)


def test_a_caller_under_processing_restriction_is_not_recorded(
    stack: Settings, desk: Controller, tmp_path: Path
) -> None:
    assert api(desk, "POST", "/api/agents/agent2/login")[0] == 200
    started = _recordings_started(desk)
    asyncio.run(_restrict_caller(stack, True))
    try:
        _phone, since = _call_desk(stack, tmp_path, "agent2", talk_ms=4000)
    finally:
        asyncio.run(_restrict_caller(stack, False))
    case = wait_for("the case row", lambda: _latest_case(stack, since), timeout=15, step=0.3)
    assert case["outcome"] == "answered"
    log = desk.log()
    assert "caller's processing is restricted: not recording" in log
    assert "playing the recording notice" not in log
    # The case row is closed: the flow emits a recording before it ends the case, and the
    # recorder writes a case with its audio rows in one transaction; and Asterisk never
    # started recording the bridge.
    assert _audio_rows(stack, "recordings", case["id"]) == []
    assert _recordings_started(desk) == started


def test_a_recorded_number_gives_the_notice_first_and_records_any_queue(
    stack: Settings, desk: Controller, tmp_path: Path
) -> None:
    """201 records every conversation (``[recording] numbers``): the notice comes before the
    menu (the digit typed during it is kept), and the support queue, which does not record by
    itself, is recorded."""
    assert api(desk, "POST", "/api/agents/agent2/login")[0] == 200
    phone, since = _call_desk(stack, tmp_path, "agent2", talk_ms=4000, number="201", digit="2")
    bridged = read_stamp(phone.workdir, "bye") - read_stamp(phone.workdir, "answered")
    case = wait_for("the case row", lambda: _latest_case(stack, since, "201"), timeout=15, step=0.3)
    (stay,) = asyncio.run(
        fetch_rows(stack, "SELECT * FROM queue_entries WHERE case_id = $1", case["id"])
    )
    assert stay["queue"] == "support"
    (rec,) = wait_for(
        "the recording row", lambda: _audio_rows(stack, "recordings", case["id"]) or None, 10
    )
    assert rec["status"] == "completed"
    assert case["started_at"] < rec["notice_played_at"] < stay["entered_at"] < rec["started_at"]
    # The recording starts once the notice has played and Asterisk has started it: on a
    # loaded machine (4 test workers on 2 cores) that can take more than a second.
    assert bridged - 2.0 <= rec["duration"].total_seconds() <= bridged + 0.5, (
        rec["duration"], bridged,
    )  # fmt: skip
    assert _rms(_check_audio(stack, rec)) > RMS_FLOOR


def test_a_recording_left_behind_by_a_killed_controller_is_kept_and_marked_failed(
    stack: Settings, desk: Controller, tmp_path: Path
) -> None:
    """kill -9 mid-recording: the calls end while no controller runs; the next controller
    moves the file into the store and writes its row, failed with the reason, on its case."""
    assert api(desk, "POST", "/api/agents/agent2/login")[0] == 200
    # The phones are cut short by the hang-ups below: their exit codes are not checked.
    phone = AgentPhone(stack, "agent2", "agent-answers-and-talks.xml", tmp_path, talk_ms=20000)
    try:
        with ThreadPoolExecutor(1) as pool:
            caller, case_id = _recorded_call_under_way(pool, stack, desk, tmp_path, timeout=60)
            time.sleep(2.0)  # some conversation in the file
            assert desk.proc is not None
            desk.proc.kill()
            desk.proc.wait()
            for channel in ari_get(stack, "/channels"):  # the parties hang up meanwhile
                ari_delete(stack, f"/channels/{channel['id']}")
            caller.result(timeout=60)
    finally:
        phone.close()
    spool = stack.in_root(stack.recordings_inner)
    (left,) = wait_for("the left-behind file", lambda: list(spool.glob(f"rec-*{case_id.hex}.wav")))
    assert _audio_rows(stack, "recordings", case_id) == []  # nobody wrote its row
    desk.stop()
    desk.env["LINJA_RECORDING_ORPHAN_AGE"] = "2"
    desk.start()
    (rec,) = wait_for(
        "the recovered row", lambda: _audio_rows(stack, "recordings", case_id) or None, 20
    )
    assert rec["status"] == "failed" and "controller stopped" in rec["failure_reason"]
    assert rec["name"] == left.stem and not left.exists()
    assert rec["duration"].total_seconds() >= 1.5
    assert _rms(_check_audio(stack, rec)) > RMS_FLOOR
    assert "Traceback" not in desk.log()


def test_asterisk_crashing_mid_recording_leaves_a_failed_row_and_the_next_call_is_recorded(
    stack: Settings, desk: Controller, tmp_path: Path
) -> None:
    """Asterisk is SIGKILLed mid-recording and started again. The controller reconnects, the
    recording of the cut call lands as a failed row with the reason (never silently missing)
    and the audio Asterisk had written, and the next call is answered and recorded."""
    asterisk = AsteriskServer(stack)
    assert api(desk, "POST", "/api/agents/agent2/login")[0] == 200
    phone = AgentPhone(stack, "agent2", "agent-answers-and-talks.xml", tmp_path, talk_ms=20000)
    try:
        with ThreadPoolExecutor(1) as pool:
            # No BYE will come: SIPp's own timeout ends this call.
            caller, case_id = _recorded_call_under_way(pool, stack, desk, tmp_path, timeout=25)
            # Asterisk writes through a 32 KiB buffer (~2 s of audio): what it had not written
            # yet is lost with it, so let the conversation run past a few of those first.
            time.sleep(5.0)
            pid = asterisk.status().pid
            assert pid is not None
            try:
                os.kill(pid, signal.SIGKILL)
                wait_for("Asterisk to die", lambda: not asterisk.status().running, timeout=10)
                killed = time.monotonic()
            finally:
                asterisk.start()
            print(f"Asterisk back after {time.monotonic() - killed:.1f} s")
            caller.result(timeout=60)
    finally:
        phone.close()
    (rec,) = wait_for(
        "the cut call's recording row",
        lambda: _audio_rows(stack, "recordings", case_id) or None,
        timeout=60,
    )
    print("cut recording:", rec["status"], rec["failure_reason"], rec["duration"])
    assert rec["status"] == "failed" and rec["failure_reason"], dict(rec)
    assert rec["duration"].total_seconds() >= 1.5  # the audio up to the crash is kept
    assert _rms(_check_audio(stack, rec)) > RMS_FLOOR
    wait_for(
        "the controller to reconnect",
        lambda: _ari_knows_app(stack) and desk.healthy(),
        timeout=30,
        step=0.2,
    )

    # A new call after the restart: answered, bridged and recorded as usual.
    assert api(desk, "POST", "/api/agents/agent3/login")[0] == 200
    phone, since = _call_desk(stack, tmp_path / "after", "agent3", talk_ms=3000)
    case = wait_for("the new case", lambda: _latest_case(stack, since), timeout=15, step=0.3)
    assert case["id"] != case_id and case["outcome"] == "answered"
    (after,) = wait_for(
        "the new recording", lambda: _audio_rows(stack, "recordings", case["id"]) or None, 10
    )
    assert after["status"] == "completed"
    assert _rms(_check_audio(stack, after)) > RMS_FLOOR
    assert "Traceback" not in desk.log()
