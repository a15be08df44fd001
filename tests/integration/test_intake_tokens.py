"""Intake tokens per tenant (issue 13, item 3): random, stored as SHA-256 only, bound to the
tenant's id (a reused slug inherits nothing), revocable and rotatable with an overlap; the
`linja intake token` commands. Against the real Postgres, the intake webhook in-process."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ivr.config import Settings
from ivr.directory import Directory
from ivr.http.contacts import ContactDeps, add_routes
from ivr.http.edge import new_app
from ivr.http.guard import Guard
from storage.db import connect, make_engine, session_factory
from storage.domain import Actor, TenantInfo
from storage.passwords import Hasher
from storage.repositories.audit import AuditLog
from storage.repositories.contact_requests import ContactRequestRepository
from storage.repositories.intake_tokens import IntakeTokenRepository
from storage.repositories.tenants import TenantRepository
from storage.repositories.users import UserRepository
from tests.support import linja_here

pytestmark = pytest.mark.integration

SYSTEM = Actor.system("tests")
SMS = {"phone": "040 123 4567", "message": "Taksi asemalle"}
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class World:
    client: TestClient[web.Request, web.Application]
    tokens: IntakeTokenRepository
    tenants: TenantRepository
    taksi: TenantInfo
    settings: Settings

    async def post(self, token: str, slug: str = "taksi") -> int:
        reply = await self.client.post(
            f"/api/intake/{slug}/sms", json=SMS, headers={"Authorization": f"Bearer {token}"}
        )
        return reply.status

    async def db(self, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await connect(self.settings, "super")
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()


@pytest.fixture
async def world(scratch_db: Settings) -> AsyncIterator[World]:
    engine = make_engine(scratch_db, pool_size=4)
    sessions = session_factory(engine)
    tenants = TenantRepository(sessions)
    taksi = await tenants.create("taksi", "Taksi Oy", SYSTEM)
    users = UserRepository(sessions, Hasher.fast_for_tests())
    tokens = IntakeTokenRepository(sessions)
    app = new_app()
    add_routes(
        app,
        ContactDeps(
            requests=ContactRequestRepository(sessions),
            clock=lambda: datetime.now(UTC),
            intake_tokens=tokens,
            queues_of=lambda _slug: ["taxi"],
        ),
        Guard(users, Directory(tenants, users), audit=AuditLog(sessions)),
    )
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield World(client, tokens, tenants, taksi, scratch_db)
    finally:
        await client.close()
        await engine.dispose()


async def test_intake_tokens_are_stored_hashed_and_audited_without_the_token(world: World) -> None:
    issued = await world.tokens.add(world.taksi.id, SYSTEM)
    assert await world.post(issued.token) == 201
    rows = await world.db("SELECT t::text AS row, token_sha256 FROM intake_tokens t")
    assert [r["token_sha256"] for r in rows] == [hashlib.sha256(issued.token.encode()).hexdigest()]
    assert issued.token not in rows[0]["row"]
    audit = await world.db(
        "SELECT action, details::text FROM audit_log WHERE action LIKE 'intake%'"
    )
    assert [a["action"] for a in audit] == ["intake_token.add"]
    assert issued.token not in audit[0]["details"]


async def test_intake_tokens_a_reused_slug_never_inherits_an_old_token(world: World) -> None:
    """Before, a token was HMAC(secret, slug): a new tenant under an old slug was opened by
    the old tenant's gateways."""
    old = await world.tokens.add(world.taksi.id, SYSTEM)
    await world.db("UPDATE tenants SET slug = 'taksi-vanha' WHERE id = $1", world.taksi.id)
    reborn = await world.tenants.create("taksi", "Uusi Taksi Oy", SYSTEM)
    assert await world.post(old.token) == 401  # the new "taksi" has no token yet
    new = await world.tokens.add(reborn.id, SYSTEM)
    assert await world.post(new.token) == 201
    assert await world.post(old.token, "taksi-vanha") == 201  # still the old tenant's
    assert await world.post(new.token, "taksi-vanha") == 401


async def test_intake_tokens_revoke_and_rotate_with_an_overlap(world: World) -> None:
    first = await world.tokens.add(world.taksi.id, SYSTEM)
    second, olds = await world.tokens.rotate(world.taksi.id, SYSTEM, overlap=timedelta(hours=1))
    assert [o.id for o in olds] == [first.info.id] and olds[0].expires_at is not None
    assert await world.post(first.token) == 201  # within the overlap
    assert await world.post(second.token) == 201
    await world.db(
        "UPDATE intake_tokens SET expires_at = now() - interval '1 second' WHERE id = $1",
        first.info.id,
    )  # the overlap has passed
    assert await world.post(first.token) == 401
    third, _ = await world.tokens.rotate(world.taksi.id, SYSTEM, overlap=timedelta(0))
    assert await world.post(second.token) == 401  # no overlap: at once
    await world.tokens.revoke(world.taksi.id, third.info.id, SYSTEM)
    assert await world.post(third.token) == 401
    listed = await world.tokens.for_tenant(world.taksi.id)
    assert [t.id for t in listed] == [first.info.id, second.info.id, third.info.id]
    assert listed[2].revoked_at is not None


def linja(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"LINJA_DB_NAME": settings.db_name, "LINJA_PG_PORT": str(settings.pg_port)}
    return linja_here(*args, env=env)


def test_intake_token_cli_add_list_rotate_revoke(scratch_db: Settings) -> None:
    async def seed() -> None:
        engine = make_engine(scratch_db, pool_size=1)
        try:
            await TenantRepository(session_factory(engine)).create("taksi", "Taksi Oy", SYSTEM)
        finally:
            await engine.dispose()

    asyncio.run(seed())
    added = linja(scratch_db, "intake", "token", "add", "--tenant", "taksi")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert token.startswith("lit_") and len(token) > 40
    listed = linja(scratch_db, "intake", "token", "list", "--tenant", "taksi", "--json")
    rows = json.loads(listed.stdout)
    assert len(rows) == 1 and rows[0]["active"] and token not in listed.stdout
    rotated = linja(scratch_db, "intake", "token", "rotate", "--tenant", "taksi", "--json")
    doc = json.loads(rotated.stdout)
    assert doc["token"] != token and doc["old"][0]["id"] == rows[0]["id"]
    assert doc["old"][0]["expires_at"] is not None  # the default 24h overlap
    revoked = linja(scratch_db, "intake", "token", "revoke", "--tenant", "taksi", "--id", doc["id"])
    assert revoked.returncode == 0 and doc["id"] in revoked.stdout
    again = linja(scratch_db, "intake", "token", "revoke", "--tenant", "taksi", "--id", doc["id"])
    assert again.returncode == 2 and "no live token" in again.stderr
    unknown = linja(scratch_db, "intake", "token", "add", "--tenant", "eiole")
    assert unknown.returncode == 2 and "no tenant" in unknown.stderr
    final = json.loads(linja(scratch_db, "intake", "token", "list", "--tenant", "taksi",
                             "--json").stdout)  # fmt: skip
    assert [r["active"] for r in final] == [True, False]  # the first within its overlap
