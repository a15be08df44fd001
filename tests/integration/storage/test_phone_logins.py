"""Phone-login lockout in Postgres (issue 13, item 2): failures count per user across calls,
controllers (two repositories on their own engines) and restarts; the login must belong to
the dialled tenant; `linja agent unlock` clears a lock (audited)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.config import Settings
from storage.db import connect, make_engine, session_factory
from storage.domain import Actor, TenantInfo, UserInfo
from storage.events import Role
from storage.passwords import Hasher
from storage.phone_lock import BASE_LOCK, THRESHOLD
from storage.repositories.phone_logins import PhoneLogins
from storage.repositories.tenants import TenantRepository
from storage.repositories.users import UserRepository

pytestmark = pytest.mark.integration

SYSTEM = Actor.system("tests")
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[3]


@dataclass
class World:
    engines: list[AsyncEngine]
    a: TenantInfo
    b: TenantInfo
    agent: UserInfo

    def controller(self, n: int) -> PhoneLogins:
        return PhoneLogins(session_factory(self.engines[n]), Hasher.fast_for_tests())


@pytest.fixture
async def world(scratch_db: Settings) -> AsyncIterator[World]:
    engines = [make_engine(scratch_db, pool_size=2) for _ in range(2)]
    sessions = session_factory(engines[0])
    tenants = TenantRepository(sessions)
    a = await tenants.create("puhelin-a", "A Oy", SYSTEM)
    b = await tenants.create("puhelin-b", "B Oy", SYSTEM)
    agent = await UserRepository(sessions, Hasher.fast_for_tests()).create(
        tenant_id=a.id, name="Agentti", login="agentti", password="pw-123", role=Role.TEAM,
        actor=SYSTEM, phone_login="501", phone_pin="1234",
    )  # fmt: skip
    try:
        yield World(engines, a, b, agent)
    finally:
        for engine in engines:
            await engine.dispose()


async def test_phone_login_failures_lock_across_controllers_then_the_lock_runs_out(
    world: World,
) -> None:
    one, two = world.controller(0), world.controller(1)
    for n in range(1, THRESHOLD):
        result = await (one if n % 2 else two).attempt(world.a.id, "501", "0000", T0)
        assert (result.user, result.failures, result.locked_until) == (None, n, None)
    locking = await two.attempt(world.a.id, "501", "0000", T0)
    assert locking.locked_until == T0 + BASE_LOCK and locking.failures == THRESHOLD
    restarted = world.controller(0)  # a new repository: nothing kept in memory
    during = await restarted.attempt(world.a.id, "501", "1234", T0 + BASE_LOCK / 2)
    assert during.user is None and during.locked_until == T0 + BASE_LOCK  # the right PIN too
    after = T0 + BASE_LOCK + timedelta(seconds=1)
    again = await one.attempt(world.a.id, "501", "0000", after)
    assert again.locked_until == after + 2 * BASE_LOCK  # increasing
    later = again.locked_until + timedelta(seconds=1)
    ok = await two.attempt(world.a.id, "501", "1234", later)
    assert ok.user is not None and ok.user.login == "agentti"
    assert await one.state(world.agent.id) == (0, None)


async def test_phone_login_of_another_tenant_counts_nothing(world: World) -> None:
    one = world.controller(0)
    assert (await one.attempt(world.b.id, "501", "1234", T0)).user is None
    assert (await one.attempt(world.b.id, "501", "0000", T0)).failures == 0
    assert (await one.attempt(world.a.id, "999", "1234", T0)).user is None
    assert await one.state(world.agent.id) == (0, None)
    assert (await one.attempt(world.a.id, "501", "1234", T0)).user is not None


async def _lock(world: World) -> None:
    one = world.controller(0)
    for _ in range(THRESHOLD):
        await one.attempt(world.a.id, "501", "0000", datetime.now(UTC))


def test_phone_login_unlock_command_clears_the_lock(scratch_db: Settings) -> None:
    async def seed_and_lock() -> None:
        engine = make_engine(scratch_db, pool_size=2)
        sessions = session_factory(engine)
        tenant = await TenantRepository(sessions).create("puhelin-c", "C Oy", SYSTEM)
        user = await UserRepository(sessions, Hasher.fast_for_tests()).create(
            tenant_id=tenant.id, name="Agentti", login="agentti", password="pw-123",
            role=Role.TEAM, actor=SYSTEM, phone_login="501", phone_pin="1234",
        )  # fmt: skip
        await _lock(World([engine], tenant, tenant, user))
        await engine.dispose()

    asyncio.run(seed_and_lock())
    env = {
        **os.environ,
        "LINJA_DB_NAME": scratch_db.db_name,
        "LINJA_PG_PORT": str(scratch_db.pg_port),
    }

    def linja(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ivr.cli", *args],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    status = json.loads(linja("agent", "lock-status", "--login", "agentti", "--json").stdout)
    assert status["failures"] == THRESHOLD and status["locked_until"] is not None
    unlocked = linja("agent", "unlock", "--login", "agentti", "--json")
    assert unlocked.returncode == 0, unlocked.stderr
    assert json.loads(unlocked.stdout) == {"login": "agentti", "failures_cleared": THRESHOLD}
    status = json.loads(linja("agent", "lock-status", "--login", "agentti", "--json").stdout)
    assert status == {"login": "agentti", "failures": 0, "locked_until": None}
    assert linja("agent", "unlock", "--login", "nobody").returncode == 2

    async def audited() -> list[str]:
        conn = await connect(scratch_db, "super")
        try:
            return [r[0] for r in await conn.fetch(
                "SELECT action FROM audit_log WHERE action = 'user.phone_unlock'")]  # fmt: skip
        finally:
            await conn.close()

    assert asyncio.run(audited()) == ["user.phone_unlock"]
