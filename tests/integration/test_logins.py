"""Browser sessions and personal API tokens on the real Postgres, through a real aiohttp
server built as the controller builds it (new_app + the guard's Identity + the login routes).

Proven with refusals, not only successes: a logout, a disabled user and a revoked token end
access at the very next request; a changed password ends the cached credential at once."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.config import Settings
from ivr.directory import Directory
from ivr.http.browser import HOSTS, HostPolicy
from ivr.http.edge import new_app
from ivr.http.guard import Guard, Principal
from ivr.http.logins import add_routes
from ivr.http.sessions import CSRF_HEADER, SESSION_COOKIE, Identity
from storage.db import session_factory
from storage.domain import Actor, UserInfo
from storage.events import Role
from storage.passwords import Hasher
from storage.repositories.audit import AuditLog
from storage.repositories.logins import token_hash
from storage.repositories.tenants import TenantRepository
from storage.repositories.users import UserRepository
from tests.integration.test_retention import cli_env, new_tenant
from tests.support import linja_here

pytestmark = pytest.mark.integration

PW = "oikea-salasana-1"


@dataclass
class World:
    client: TestClient[web.Request, web.Application]
    users: UserRepository
    identity: Identity
    conn: asyncpg.Connection
    team: UserInfo
    other: UserInfo

    async def login(self, login: str, password: str = PW) -> aiohttp.ClientResponse:
        return await self.client.post("/api/login", json={"login": login, "password": password})

    async def csrf(self) -> str:
        r = await self.client.get("/api/session")
        assert r.status == 200, await r.text()
        token = (await r.json())["csrf_token"]
        assert isinstance(token, str)
        return token

    async def audit(self, action: str) -> list[asyncpg.Record]:
        return list(
            await self.conn.fetch("SELECT * FROM audit_log WHERE action = $1 ORDER BY id", action)
        )


def basic(login: str, password: str = PW) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}


@pytest.fixture
async def world(
    scratch_db: Settings, engine: AsyncEngine, conn: asyncpg.Connection
) -> AsyncIterator[World]:
    db = session_factory(engine)
    users = UserRepository(db, Hasher.fast_for_tests())
    tenant_id = await new_tenant(conn, "30 days")
    team = await users.create(
        tenant_id=tenant_id, name="Tiina", login="tiina", password=PW, role=Role.TEAM,
        actor=Actor.system("test"),
    )  # fmt: skip
    other = await users.create(
        tenant_id=tenant_id, name="Olli", login="olli", password=PW, role=Role.ADMIN,
        actor=Actor.system("test"),
    )  # fmt: skip
    settings = scratch_db.model_copy(update={"login_free_failures": 2, "login_backoff_base": 30})
    identity = Identity.build(settings, db, users.hasher, AuditLog(db), lambda: datetime.now(UTC))
    guard = Guard(users, Directory(TenantRepository(db), users), identity, audit=AuditLog(db))
    app = new_app()
    app[HOSTS] = HostPolicy.loopback()
    add_routes(app, identity, guard)

    @guard.requires()
    async def change(_: web.Request, who: Principal) -> web.StreamResponse:
        return web.json_response({"login": who.login})

    app.router.add_post("/api/change", change)
    app.router.add_get("/api/whoami", change)
    jar = aiohttp.CookieJar(unsafe=True)  # cookies from 127.0.0.1
    async with TestClient(TestServer(app, host="127.0.0.1"), cookie_jar=jar) as client:
        yield World(client, users, identity, conn, team, other)
    await identity.close()


async def test_login_sets_a_strict_httponly_cookie_and_stores_only_its_hash(world: World) -> None:
    r = await world.login("tiina")
    assert r.status == 200, await r.text()
    body = await r.json()
    assert body["login"] == "tiina" and body["role"] == "team" and body["csrf_token"]
    cookie = r.cookies[SESSION_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    assert not cookie["secure"]  # plain HTTP here; Secure comes with TLS
    token = cookie.value
    rows = await world.conn.fetch("SELECT token_hash FROM web_sessions")
    assert [r["token_hash"] for r in rows] == [token_hash(token)]
    dump = json.dumps([dict(r) for r in await world.conn.fetch("SELECT * FROM web_sessions")],
                      default=str)  # fmt: skip
    assert token not in dump
    who = await world.client.get("/api/session")
    assert (await who.json())["login"] == "tiina" and (await who.json())["via"] == "session"
    assert len(await world.audit("session.login")) == 1


async def test_a_change_needs_the_csrf_token_of_its_session(world: World) -> None:
    assert (await world.login("tiina")).status == 200
    bare = await world.client.post("/api/change")
    assert bare.status == 403 and (await bare.json())["type"].endswith(":csrf")
    wrong = await world.client.post("/api/change", headers={CSRF_HEADER: "0" * 64})
    assert wrong.status == 403
    ok = await world.client.post("/api/change", headers={CSRF_HEADER: await world.csrf()})
    assert ok.status == 200 and (await ok.json())["login"] == "tiina"
    cross = await world.client.post(
        "/api/change", headers={CSRF_HEADER: await world.csrf(), "Origin": "http://evil.example"}
    )
    assert cross.status == 403 and (await cross.json())["type"].endswith(":cross-site")
    assert (await world.client.get("/api/whoami")).status == 200  # reads need no token


async def test_logout_ends_the_session_at_once(world: World) -> None:
    r = await world.login("tiina")
    token = r.cookies[SESSION_COOKIE].value
    out = await world.client.post("/api/logout", headers={CSRF_HEADER: await world.csrf()})
    assert out.status == 204
    replay = await world.client.get("/api/whoami", cookies={SESSION_COOKIE: token})
    assert replay.status == 401
    ended = await world.conn.fetchrow("SELECT ended_at, end_reason FROM web_sessions")
    assert ended is not None and ended["end_reason"] == "logout"
    assert len(await world.audit("session.logout")) == 1


async def test_a_disabled_users_session_ends_at_the_next_request(world: World) -> None:
    await world.login("tiina")
    assert (await world.client.get("/api/whoami")).status == 200
    await world.users.disable(world.team.id, Actor.system("test"))
    assert (await world.client.get("/api/whoami")).status == 401
    row = await world.conn.fetchrow("SELECT end_reason FROM web_sessions")
    assert row is not None and row["end_reason"] == "user-disabled"
    assert (await world.client.get("/api/whoami", headers=basic("tiina"))).status == 401


async def test_an_idle_session_ends(world: World) -> None:
    r = await world.login("tiina")
    token = r.cookies[SESSION_COOKIE].value
    await world.conn.execute("UPDATE web_sessions SET last_seen_at = now() - interval '31 minutes'")
    assert (await world.client.get("/api/whoami", cookies={SESSION_COOKIE: token})).status == 401
    row = await world.conn.fetchrow("SELECT end_reason FROM web_sessions")
    assert row is not None and row["end_reason"] == "idle"


async def test_personal_tokens_work_until_revoked(world: World) -> None:
    await world.login("tiina")
    made = await world.client.post(
        "/api/tokens", json={"name": "skripti", "expires": "90d"},
        headers={CSRF_HEADER: await world.csrf()},
    )  # fmt: skip
    assert made.status == 201, await made.text()
    info = await made.json()
    token = info["token"]
    assert token.startswith("lpat_") and info["expires_at"]
    stored = await world.conn.fetchval("SELECT token_hash FROM api_tokens")
    assert stored == token_hash(token.removeprefix("lpat_"))
    bearer = {"Authorization": f"Bearer {token}"}
    fresh = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=fresh) as machine:
        url = str(world.client.make_url("/api/whoami"))
        async with machine.get(url, headers=bearer) as r:
            assert r.status == 200 and (await r.json())["login"] == "tiina"
        async with machine.post(str(world.client.make_url("/api/tokens")), headers=bearer,
                                json={"name": "more"}) as r:  # fmt: skip
            assert r.status == 403  # a token cannot mint tokens
        listed = await world.client.get("/api/tokens")
        items = (await listed.json())["items"]
        assert [i["name"] for i in items] == ["skripti"] and "token" not in items[0]
        assert items[0]["last_used_at"] is not None
        # another user cannot revoke it: to them it does not exist
        theirs = str(world.client.make_url(f"/api/tokens/{info['id']}"))
        async with machine.delete(theirs, headers=basic("olli")) as r:
            assert r.status == 404
        async with machine.get(url, headers=bearer) as r:
            assert r.status == 200
        gone = await world.client.delete(
            f"/api/tokens/{info['id']}", headers={CSRF_HEADER: await world.csrf()}
        )
        assert gone.status == 200 and (await gone.json())["revoked_at"]
        async with machine.get(url, headers=bearer) as r:
            assert r.status == 401
    assert len(await world.audit("token.create")) == 1
    assert len(await world.audit("token.revoke")) == 1


async def test_an_expired_token_is_refused(world: World) -> None:
    past = datetime.now(UTC) - timedelta(days=2)
    token, _ = await world.identity.tokens.create(
        world.team, "old", past, past + timedelta(days=1), Actor.system("test")
    )
    r = await world.client.get("/api/whoami", headers={"Authorization": f"Bearer lpat_{token}"})
    assert r.status == 401


async def test_failed_logins_are_audited_alike_and_back_off(world: World) -> None:
    assert (await world.login("tiina", "vaarin")).status == 401
    assert (await world.login("nobody-here", "vaarin")).status == 401
    failed = await world.audit("login.failed")
    assert [dict(f["details"]) if isinstance(f["details"], dict) else json.loads(f["details"])
            for f in failed] == [{"login": "tiina", "via": "login"},
                                 {"login": "nobody-here", "via": "login"}]  # fmt: skip
    assert {f["tenant_id"] for f in failed} == {None}
    assert {f["actor_user_id"] for f in failed} == {None}
    assert all("vaarin" not in str(dict(f)) for f in failed)
    # two free failures per address, the third makes it wait 30 s (then 60 s, ...)
    assert (await world.login("olli", PW)).status == 200
    assert (await world.login("tiina", "vaarin")).status == 401
    refused = await world.login("olli", PW)  # right password, but checked by nobody
    assert refused.status == 429 and int(refused.headers["Retry-After"]) >= 29
    assert len(await world.audit("login.failed")) == 3


async def test_a_changed_password_ends_the_cached_credential_at_once(world: World) -> None:
    assert (await world.client.get("/api/whoami", headers=basic("tiina"))).status == 200
    assert len(world.identity.passwords.cache) == 1
    await world.users.set_password(world.team.id, "uusi-salasana-2", Actor.system("test"))
    assert (await world.client.get("/api/whoami", headers=basic("tiina"))).status == 401
    ok = await world.client.get("/api/whoami", headers=basic("tiina", "uusi-salasana-2"))
    assert ok.status == 200


async def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`linja args` in this process (in a thread: this test's loop is running)."""
    return await asyncio.to_thread(linja_here, *args, env=env)


async def test_the_token_cli(world: World, scratch_db: Settings, tmp_path: Path) -> None:
    env = cli_env(scratch_db, tmp_path)
    made = await cli(env, "token", "add", "--user", "tiina", "--expires", "30d", "--name", "ci",
                 "--json")  # fmt: skip
    assert made.returncode == 0, made.stderr
    info = json.loads(made.stdout)
    bearer = {"Authorization": f"Bearer {info['token']}"}
    assert (await world.client.get("/api/whoami", headers=bearer)).status == 200
    listed = await cli(env, "token", "list", "--user", "tiina", "--json")
    assert [t["id"] for t in json.loads(listed.stdout)["items"]] == [info["id"]]
    assert info["token"] not in listed.stdout
    assert (await cli(env, "token", "revoke", info["id"])).returncode == 0
    assert (await world.client.get("/api/whoami", headers=bearer)).status == 401
    assert (await cli(env, "token", "add", "--user", "nobody")).returncode == 2
    assert (await cli(env, "token", "add", "--user", "tiina", "--expires", "soon")).returncode == 2
    assert (await cli(env, "token", "revoke", str(uuid.uuid4()))).returncode == 2
    assert (await cli(env, "token", "revoke", "not-an-id")).returncode == 2


async def test_sessions_long_over_are_purged_and_live_ones_kept(world: World) -> None:
    kept = (await world.login("tiina")).cookies[SESSION_COOKIE].value
    await world.login("olli")
    await world.conn.execute(
        "UPDATE web_sessions SET ended_at = now() - interval '2 days', end_reason = 'logout', "
        "created_at = now() - interval '3 days', last_seen_at = now() - interval '2 days', "
        "expires_at = now() - interval '2 days' + interval '1 hour' "
        "WHERE user_id = $1",
        world.other.id,
    )
    policy = world.identity.policy
    n = await world.identity.sessions.purge(datetime.now(UTC), policy.idle, timedelta(days=1))
    assert n == 1
    left = await world.conn.fetch("SELECT user_id FROM web_sessions")
    assert [r["user_id"] for r in left] == [world.team.id]
    live = await world.client.get("/api/whoami", cookies={SESSION_COOKIE: kept})
    assert live.status == 200
