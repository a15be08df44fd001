"""A controller killed with `kill -9` and restarted within seconds on the same node (issue 19):
the new controller adopts its predecessor's orphaned channels (ivr/ari/reconciler.py, the
resync after connecting) *and their cases*. The predecessor's id stops beating; once it is
down (``LINJA_CONTROLLER_DOWN_AFTER``) the heartbeat ends the open cases it still holds as
``node_lost``, so an adopted caller's case must be the new controller's by then: it ends
with what really happens to the caller (served by an agent, or abandoned), under its one
case id, with its one queue stay.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from ivr.config import Settings
from tests.integration.test_call_center import _ensure_admin, agent_action
from tests.support import (
    SCENARIOS,
    AgentPhone,
    Controller,
    ari_get,
    free_media_port,
    free_udp_port,
    sql,
    wait_for,
)

pytestmark = pytest.mark.integration

MENU = "200"  # 2: the support queue
DOWN_AFTER = 4.0
ENV = {
    "LINJA_HEARTBEAT_INTERVAL": "1",
    "LINJA_CONTROLLER_DOWN_AFTER": str(DOWN_AFTER),
    "LINJA_RECONCILE_INTERVAL": "1",
}


def _caller(settings: Settings, workdir: Path, *, wait_ms: int) -> subprocess.Popen[str]:
    """Menu, 2 (support), then waits ``wait_ms`` and hangs up (unless served first)."""
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        "sipp", f"{settings.bind}:{settings.sip_port}", "-sf",
        str(SCENARIOS / "caller-waits-then-hangs-up.xml"), "-s", MENU, "-i", "127.0.0.1",
        "-p", str(free_udp_port()), "-mp", str(free_media_port()), "-m", "1",
        "-d", str(wait_ms), "-timeout", "90s", "-nostdin",
    ]  # fmt: skip
    return subprocess.Popen(
        cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _cases(settings: Settings, since: datetime) -> list[Any]:
    return sql(
        settings,
        "SELECT c.*, q.exit_reason, q.left_at, q.entered_at,"
        " (SELECT count(*) FROM queue_entries e WHERE e.case_id = c.id) AS stays"
        " FROM cases c LEFT JOIN queue_entries q ON q.case_id = c.id"
        " WHERE c.service_number = $1 AND c.started_at >= $2 ORDER BY c.started_at",
        MENU,
        since,
    )


@pytest.fixture
def logged_out(stack: Settings) -> Iterator[list[Controller]]:
    """The test's controllers (stopped afterwards), agents logged out by the last one."""
    asyncio.run(_ensure_admin(stack))
    ctls: list[Controller] = []
    try:
        yield ctls
    finally:
        live = [c for c in ctls if c.proc is not None]
        for agent in ("agent1", "agent3"):
            if live:
                agent_action(live[-1], agent, "logout")
        for c in ctls:
            c.stop()


@pytest.mark.parametrize("end", ["served", "abandoned"])
def test_kill_9_and_restart_the_new_controller_takes_the_waiting_callers_case_over(
    stack: Settings, logged_out: list[Controller], tmp_path: Path, end: str
) -> None:
    since = sql(stack, "SELECT now() AS t")[0]["t"]
    first = Controller(stack, tmp_path / "controller-1.log", env=ENV)
    logged_out.append(first)
    first.start()
    # agent3 is logged in but its phone is not registered: it never answers, so the caller
    # waits (a queue with nobody logged in would refuse them).
    agent_action(first, "agent3", "login")
    caller = _caller(stack, tmp_path / "caller", wait_ms=12000 if end == "abandoned" else 40000)
    phone: AgentPhone | None = None
    try:
        (waiting,) = wait_for(
            "the caller's case waiting in the queue",
            lambda: (
                [c for c in _cases(stack, since) if c["entered_at"] and not c["left_at"]] or None
            ),
            timeout=20,
            step=0.2,
        )
        old_id = waiting["controller_id"]
        first.kill()  # kill -9: the caller's channel stays in Asterisk, in our application
        killed = time.monotonic()
        second = Controller(stack, tmp_path / "controller-2.log", env=ENV)
        logged_out.append(second)
        second.start()
        restarted_s = time.monotonic() - killed
        taken = wait_for(
            "the new controller holding the caller's case",
            lambda: next(
                (c for c in _cases(stack, since) if c["controller_id"] not in (None, old_id)),
                None,
            ),
            timeout=15,
            step=0.2,
        )
        adopted_s = time.monotonic() - killed
        # Past the old controller's down bound (its cases would be ended node_lost by now).
        time.sleep(max(0.0, DOWN_AFTER + 3 - (time.monotonic() - killed)))
        (still,) = _cases(stack, since)
        assert still["ended_at"] is None, still
        if end == "served":
            phone = AgentPhone(stack, "agent1", "agent-answers.xml", tmp_path, talk_ms=2000)
            agent_action(second, "agent1", "login")
            code, out = phone.wait()
            assert code == 0, out
        (case,) = wait_for(
            "the caller's case ended",
            lambda: (lambda rows: rows if rows and rows[0]["ended_at"] else None)(
                _cases(stack, since)
            ),
            timeout=40,
            step=0.3,
        )
        caller.wait(timeout=60)
    finally:
        if phone is not None:
            phone.close()
        if caller.poll() is None:
            caller.kill()
            caller.wait()
    wait_for("no channels left", lambda: ari_get(stack, "/channels") == [], timeout=15)
    print(
        f"kill -9 + restart ({end}): new controller up {restarted_s:.1f}s after the kill, "
        f"the case taken over {adopted_s:.1f}s after it; outcome {case['outcome']}, "
        f"queue exit {case['exit_reason']}"
    )
    assert case["id"] == waiting["id"] == taken["id"]  # one case for the one call
    assert case["stays"] == 1, case
    assert case["controller_id"] == taken["controller_id"] != old_id
    if end == "served":
        assert (case["outcome"], case["exit_reason"]) == ("answered", "served"), case
    else:
        assert (case["outcome"], case["exit_reason"]) == ("abandoned", "abandoned"), case
    # Nothing of the killed controller's was ended node_lost. (The new controller may end a
    # case an earlier test's dead controller left on this worker's database: not this test's.)
    log_text = second.log()
    assert f"case {case['id']}: ended node_lost" not in log_text, log_text
    assert f"(its controller {old_id} is down)" not in log_text, log_text
