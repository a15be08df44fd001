"""Issue 14 on the real stack: a caller the queue refuses (no agent logged in) and one who
hangs up while waiting land in Postgres with distinct exits and the right waits, and the case
API finds both (SIPp callers on the demo number 200)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from ivr.config import Settings
from storage.db import short_lived_sessions
from storage.domain import Actor
from storage.errors import NotFound
from storage.events import Role
from storage.repositories.tenants import TenantRepository
from storage.repositories.users import UserRepository
from tests.integration.test_call_center import ADMIN, ADMIN_PASSWORD, agent_action, call_center
from tests.support import (
    Controller,
    ari_get,
    basic_auth,
    owner_connection,
    read_stamp,
    run_sipp,
    wait_for,
)

pytestmark = pytest.mark.integration
__all__ = ["call_center"]  # the fixture, shared with test_call_center

MENU = "200"


async def _entries(settings: Settings, since: datetime) -> list[asyncpg.Record]:
    """Queue stays (with their case) of ended cases of number 200 started after ``since``."""
    conn = await owner_connection(settings)
    try:
        return list(
            await conn.fetch(
                "SELECT c.id AS case_id, c.outcome, c.queue_wait, c.started_at, c.ended_at,"
                " q.queue, q.entered_at, q.left_at, q.exit_reason, q.wait"
                " FROM cases c JOIN queue_entries q ON q.case_id = c.id"
                " WHERE c.service_number = $1 AND c.started_at > $2"
                " AND c.ended_at IS NOT NULL ORDER BY c.started_at",
                MENU,
                since,
            )
        )
    finally:
        await conn.close()


def _now(settings: Settings) -> datetime:
    async def now() -> datetime:
        conn = await owner_connection(settings)
        try:
            value = await conn.fetchval("SELECT now()")
            assert isinstance(value, datetime)
            return value
        finally:
            await conn.close()

    return asyncio.run(now())


def _one_entry(settings: Settings, since: datetime) -> asyncpg.Record:
    def probe() -> asyncpg.Record | None:
        rows = asyncio.run(_entries(settings, since))
        return rows[0] if len(rows) == 1 else None

    return wait_for("the case and its queue stay in Postgres", probe, timeout=15, step=0.3)


def _api(ctl: Controller, path: str) -> Any:
    req = urllib.request.Request(ctl.url(path), headers=basic_auth(ADMIN, ADMIN_PASSWORD))
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_overflow_no_agent_logged_in_is_overflowed_without_the_goodbye(
    stack: Settings, call_center: Controller, tmp_path: Path
) -> None:
    for agent in ("agent1", "agent2", "agent3"):
        agent_action(call_center, agent, "logout")
    since = _now(stack)
    result = run_sipp(
        "caller-picks-by-info.xml",
        tmp_path,
        service=MENU,
        settings=stack,
        timeout=45,
        extra=["-key", "digit", "1"],  # sales: nobody logged in
    )
    assert result.returncode == 0, result.output + result.errors
    row = _one_entry(stack, since)
    assert (row["queue"], row["exit_reason"], row["outcome"]) == (
        "sales",
        "overflowed",
        "overflowed",
    )
    assert row["wait"].total_seconds() < 0.5  # refused at once
    assert row["queue_wait"] == row["wait"]
    # The goodbye after the refusal is part of the case, not of the wait.
    assert (row["ended_at"] - row["left_at"]).total_seconds() >= 1.0

    found = _api(call_center, "/api/cases?limit=5&outcome=overflowed&queue=sales")
    item = next(i for i in found["items"] if i["id"] == str(row["case_id"]))
    assert item["queue_exit"] == "overflowed"
    assert item["queue_wait"] == pytest.approx(row["wait"].total_seconds(), abs=0.001)
    assert item["caller"]["number"] == "0401234567"  # an admin of the tenant sees it
    wait_for("no channels left", lambda: ari_get(stack, "/channels") == [], timeout=10)


def test_abandon_caller_hangs_up_in_the_queue_with_the_wait_until_the_hang_up(
    stack: Settings, call_center: Controller, tmp_path: Path
) -> None:
    # agent3 is logged in but its phone is not registered: it never answers.
    agent_action(call_center, "agent3", "login")
    since = _now(stack)
    result = run_sipp(
        "caller-waits-then-hangs-up.xml",
        tmp_path,
        service=MENU,
        settings=stack,
        timeout=45,
        extra=["-d", "3000"],  # support, then hangs up after 3 s
    )
    assert result.returncode == 0, result.output + result.errors
    measured = read_stamp(tmp_path, "hangup") - read_stamp(tmp_path, "dtmf")
    row = _one_entry(stack, since)
    assert (row["queue"], row["exit_reason"], row["outcome"]) == (
        "support",
        "abandoned",
        "abandoned",
    )
    assert abs(row["wait"].total_seconds() - measured) <= 1.0, (row["wait"], measured)

    one = _api(call_center, f"/api/cases/{row['case_id']}")
    assert one["outcome"] == "abandoned" and one["agent"] is None
    (entry,) = one["queue_entries"]
    assert (entry["queue"], entry["exit"]) == ("support", "abandoned")
    assert entry["wait"] == pytest.approx(row["wait"].total_seconds(), abs=0.001)
    wait_for("no channels left", lambda: ari_get(stack, "/channels") == [], timeout=10)


def test_case_api_pages_and_refuses_bad_parameters(
    stack: Settings, call_center: Controller
) -> None:
    first = _api(call_center, "/api/cases?limit=1")
    assert len(first["items"]) == 1
    if first["next"] is not None:  # the demo database holds more than one case
        second = _api(call_center, first["next"])
        assert second["items"][0]["id"] != first["items"][0]["id"]
        assert second["items"][0]["started_at"] <= first["items"][0]["started_at"]
    req = urllib.request.Request(
        call_center.url("/api/cases?from=noon&limit=0&outcome=lost&x=1"),
        headers=basic_auth(ADMIN, ADMIN_PASSWORD),
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 400
    assert err.value.headers["Content-Type"].startswith("application/problem+json")
    problem = json.loads(err.value.read())
    assert set(problem["errors"]) == {"from", "limit", "outcome", "x"}
    missing = urllib.request.Request(
        call_center.url(f"/api/cases/{uuid.uuid4()}"), headers=basic_auth(ADMIN, ADMIN_PASSWORD)
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(missing, timeout=10)
    assert err.value.code == 404


async def _user(settings: Settings, role: Role, *, tenant: str = "demo") -> tuple[str, str]:
    """A fresh user of ``tenant`` (made if missing) in ``role``: (login, password)."""
    login, password = f"cases-{role.value}-{uuid.uuid4().hex[:8]}", "pw-" + uuid.uuid4().hex
    async with short_lived_sessions(settings, owner=True) as sessions:
        tenants = TenantRepository(sessions)
        try:
            info = await tenants.by_slug(tenant)
        except NotFound:
            info = await tenants.create(tenant, "Toinen Oy", Actor.system("tests"))
        await UserRepository(sessions).create(
            tenant_id=info.id,
            name="Case API test",
            login=login,
            password=password,
            role=role,
            actor=Actor.system("tests"),
        )
    return login, password


def _get(ctl: Controller, path: str, who: tuple[str, str]) -> tuple[int, Any]:
    req = urllib.request.Request(ctl.url(path), headers=basic_auth(*who))
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_case_api_is_tenant_scoped_and_shows_callers_only_to_admin_and_team(
    stack: Settings, call_center: Controller, tmp_path: Path
) -> None:
    for agent in ("agent1", "agent2", "agent3"):
        agent_action(call_center, agent, "logout")
    since = _now(stack)
    result = run_sipp(
        "caller-picks-by-info.xml",
        tmp_path,
        service=MENU,
        settings=stack,
        timeout=45,
        extra=["-key", "digit", "1"],
    )
    assert result.returncode == 0, result.output + result.errors
    case_id = str(_one_entry(stack, since)["case_id"])
    path = f"/api/cases/{case_id}"
    team = asyncio.run(_user(stack, Role.TEAM))
    external = asyncio.run(_user(stack, Role.EXTERNAL))
    other = asyncio.run(_user(stack, Role.ADMIN, tenant=f"other-{uuid.uuid4().hex[:8]}"))

    status, doc = _get(call_center, path, team)
    assert status == 200 and doc["caller"]["number"] == "0401234567"
    status, doc = _get(call_center, path, external)
    assert status == 200 and doc["caller"] is None and "0401234567" not in json.dumps(doc)
    status, doc = _get(call_center, path, other)  # an admin of another tenant
    assert status == 403, doc
    status, doc = _get(call_center, "/api/cases?limit=200", other)
    assert status == 200 and case_id not in {i["id"] for i in doc["items"]}
    status, doc = _get(call_center, "/api/cases?tenant=demo", other)
    assert status == 403, doc
