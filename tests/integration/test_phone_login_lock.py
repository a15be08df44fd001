"""A locked phone login over a real `*50` call (issue 13, item 2): wrong PINs counted in
Postgres by another process lock agent1's login, so the controller refuses even the right PIN
keyed by SIPp (SIP INFO); `linja agent unlock` clears it and the same call logs the agent in."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.config import Settings
from storage.db import make_engine, session_factory
from storage.domain import Actor
from storage.passwords import Hasher
from storage.phone_lock import THRESHOLD
from storage.repositories.phone_logins import PhoneLogins
from storage.repositories.tenants import TenantRepository
from storage.repositories.users import UserRepository
from tests.integration.test_callbacks import _close_open_requests as close_open_requests
from tests.support import Controller, basic_auth, ensure_demo_admin, run_sipp

pytestmark = pytest.mark.integration

ADMIN, ADMIN_PASSWORD = "lock-test-admin", "lock-test-password-1"
ROOT = Path(__file__).resolve().parents[2]


async def _prepare(settings: Settings) -> None:
    """agent1 has phone login 501 / PIN 1234, and THRESHOLD wrong PINs on record."""
    await ensure_demo_admin(settings, ADMIN, ADMIN_PASSWORD)
    engine = make_engine(settings, owner=True, pool_size=1)
    try:
        sessions = session_factory(engine)
        users = UserRepository(sessions)
        agent = await users.by_login("agent1")
        await users.set_phone_login(agent.id, "501", "1234", Actor.system("tests"))
        demo = await TenantRepository(sessions).by_slug("demo")
        logins = PhoneLogins(sessions, Hasher.fast_for_tests())
        await logins.unlock(agent.id, Actor.system("tests"))
        for _ in range(THRESHOLD):
            await logins.attempt(demo.id, "501", "0000", datetime.now(UTC))
    finally:
        await engine.dispose()


def _agents(ctl: Controller) -> dict[str, str]:
    req = urllib.request.Request(ctl.url("/api/agents"), headers=basic_auth(ADMIN, ADMIN_PASSWORD))
    with urllib.request.urlopen(req, timeout=10) as resp:
        return {a["agent_id"]: a["state"] for a in json.loads(resp.read())}


def _logout(ctl: Controller) -> None:
    req = urllib.request.Request(
        ctl.url("/api/agents/agent1/logout"), method="POST",
        headers=basic_auth(ADMIN, ADMIN_PASSWORD),
    )  # fmt: skip
    with urllib.request.urlopen(req, timeout=10):
        pass


def _unlock(settings: Settings) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ivr.cli", "agent", "unlock", "--login", "agent1"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.fixture
def locked(stack: Settings, controller: Controller) -> Iterator[Controller]:
    asyncio.run(_prepare(stack))
    _logout(controller)
    try:
        yield controller
    finally:
        _unlock(stack)
        _logout(controller)


def test_phone_login_locked_by_earlier_failures_refuses_the_right_pin_until_unlocked(
    stack: Settings, locked: Controller, tmp_path: Path
) -> None:
    password = json.loads((stack.state_dir / "agent-sip.json").read_text())["agent1"]
    # A callback request another test of this worker left open would ring agent1 at once.
    close_open_requests(stack)

    def call() -> None:
        result = run_sipp(
            "agent-logs-in-by-phone.xml", tmp_path, service="*50", settings=stack,
            timeout=60, extra=["-key", "agent", "agent1", "-au", "agent1", "-ap", password],
        )  # fmt: skip
        assert result.returncode == 0, result.output + result.errors

    call()  # keys 501 / 1234: the right PIN, but the login is locked
    assert _agents(locked).get("agent1", "logged_out") == "logged_out"
    assert "agent phone login locked until" in locked.log()
    unlocked = _unlock(stack)
    assert unlocked.returncode == 0 and "5 failed guesses cleared" in unlocked.stdout
    call()
    assert _agents(locked)["agent1"] == "available"
    assert "agent agent1 by phone: now available" in locked.log()
    assert "1234" not in locked.log()
