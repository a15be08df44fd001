"""Data-subject rights end to end on the real Postgres and real files: export, erase,
restrict, through the CLI (a real `linja` process) and the HTTP API (a real aiohttp server
on 127.0.0.1)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.config import Settings
from ivr.directory import Directory
from ivr.http.edge import new_app
from ivr.http.guard import Guard
from ivr.http.subjects import add_routes
from recording.store import AudioKind, AudioStore
from retention.bundles import ExportBundles
from retention.rights import SubjectRights
from retention.seed import Seeded, seed_audio, seed_case, store_files
from storage.db import session_factory
from storage.domain import Actor
from storage.events import Role
from storage.passwords import Hasher
from storage.repositories.audit import AuditLog
from storage.repositories.restrictions import RestrictionRepository
from storage.repositories.tenants import TenantRepository
from storage.repositories.users import UserRepository
from tests.integration.test_retention import cli_env, linja, new_tenant

pytestmark = pytest.mark.integration

T0 = datetime.now(UTC) - timedelta(days=3)
ADMIN_PW = "salasana-123"


@dataclass
class World:
    tenant_id: uuid.UUID
    slug: str
    admin_login: str
    team_login: str
    a_cases: set[uuid.UUID]
    a_requests: set[uuid.UUID]
    a_audio: list[Seeded]
    a_vm: list[Seeded]
    b_case: uuid.UUID
    b_audio: list[Seeded]


async def add_request(
    conn: asyncpg.Connection,
    tenant_id: uuid.UUID,
    case_id: uuid.UUID,
    *,
    number: str | None = None,
    email: str | None = None,
) -> uuid.UUID:
    rid = uuid.uuid4()
    await conn.execute(
        "INSERT INTO contact_requests (id, tenant_id, case_id, channel, requested_at, "
        "callback_number, email, message) VALUES ($1, $2, $3, 'phone', $4, $5, $6, 'soita')",
        rid,
        tenant_id,
        case_id,
        T0,
        number,
        email,
    )
    return rid


@pytest.fixture
async def world(engine: AsyncEngine, conn: asyncpg.Connection, tmp_path: Path) -> World:
    store = tmp_path / "store"
    tid = await new_tenant(conn, recordings="3 months")
    slug = await conn.fetchval("SELECT slug FROM tenants WHERE id = $1", tid)
    users = UserRepository(session_factory(engine), Hasher.fast_for_tests())
    admin = await users.create(
        tenant_id=None, name="Admin", login="dpo-admin", password=ADMIN_PW, role=Role.OPERATOR,
        actor=Actor.system("tests"),
    )  # fmt: skip
    await users.create(
        tenant_id=tid, name="Team", login="team-user", password=ADMIN_PW, role=Role.TEAM,
        actor=Actor.system("tests"),
    )  # fmt: skip
    # Person A under three spellings of one number, and an e-mail in another case.
    c1 = await seed_case(conn, tid, T0, number="+358401234567", name="Maija M")
    c2 = await seed_case(conn, tid, T0 + timedelta(hours=1), number="0401234567")
    c3 = await seed_case(conn, tid, T0 + timedelta(hours=2), email="Maija.M@Example.FI")
    c_other = await seed_case(conn, tid, T0 + timedelta(hours=3), number="+358409999999")
    r1 = await add_request(conn, tid, c2, number="0401234567")
    # A request on somebody else's case but asking to call A back: A's data too.
    r2 = await add_request(conn, tid, c_other, number="00358401234567")
    a_audio = await seed_audio(conn, store, tid, c1, [T0, T0 + timedelta(minutes=5)])
    a_vm = await seed_audio(conn, store, tid, c2, [T0], kind=AudioKind.VOICE_MESSAGE)
    b_audio = await seed_audio(conn, store, tid, c_other, [T0])
    await conn.execute(
        "INSERT INTO listening_events (id, at, event_type, tenant_id, case_id, link, "
        "recording_id, user_id) VALUES ($1, $2, 'play', $3, $4, 'console', $5, $6)",
        uuid.uuid4(), T0, tid, c1, a_audio[0].id, admin.id,
    )  # fmt: skip
    return World(
        tid, slug, "dpo-admin", "team-user", {c1, c2, c3}, {r1, r2}, a_audio, a_vm, c_other,
        b_audio,
    )  # fmt: skip


def run_cli(settings: Settings, store: Path, action: str, *args: str) -> tuple[int, str, str]:
    res = linja(cli_env(settings, store), "subject", action, *args)
    return res.returncode, res.stdout, res.stderr


def bundle_of(stdout: str) -> Path:
    return Path(stdout.split("exported to ", 1)[1].split(":", 1)[0])


async def test_export_erase_export_through_the_cli(
    scratch_db: Settings, conn: asyncpg.Connection, world: World, tmp_path: Path
) -> None:
    store, out = tmp_path / "store", tmp_path / "out"
    out.mkdir()
    who = ["--tenant", world.slug, "--phone", "040 123 4567", "--email", "maija.m@example.fi"]
    code, stdout, stderr = run_cli(scratch_db, store, "export", *who, "--by", "dpo-admin",
                                   "--out", str(out))  # fmt: skip
    assert code == 0, stderr
    bundle = bundle_of(stdout)
    doc = json.loads((bundle / "subject.json").read_text())
    assert {uuid.UUID(c["id"]) for c in doc["cases"]} == world.a_cases
    assert {uuid.UUID(r["id"]) for r in doc["contact_requests"]} == world.a_requests
    assert {uuid.UUID(r["id"]) for r in doc["recordings"]} == {s.id for s in world.a_audio}
    assert {uuid.UUID(r["id"]) for r in doc["voice_messages"]} == {s.id for s in world.a_vm}
    assert len(doc["listening_events"]) == 1 and doc["erasures"] == []
    assert doc["subject"] == {"phone_number": "+358401234567", "email": "maija.m@example.fi"}
    assert str(world.b_case) not in json.dumps(doc["cases"])
    files = sorted(p.name for p in (bundle / "audio").iterdir())
    assert files == sorted(
        [f"recording-{s.id}.wav" for s in world.a_audio]
        + [f"voice_message-{s.id}.wav" for s in world.a_vm]
    )
    for s in world.a_audio:
        assert (bundle / "audio" / f"recording-{s.id}.wav").read_bytes() == (
            store / s.location
        ).read_bytes()
    exports = await conn.fetchval(
        "SELECT count(*) FROM listening_events WHERE event_type = 'export'"
    )
    assert exports == 3  # one per audio file written
    assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'subject.export'")

    code, stdout, stderr = run_cli(scratch_db, store, "erase", *who, "--by", "dpo-admin",
                                   "--ref", "DSR-7")  # fmt: skip
    assert code == 0, stderr
    for s in world.a_audio + world.a_vm:
        assert not (store / s.location).exists()
    assert store_files(store) == {s.location for s in world.b_audio}  # B's audio untouched
    reasons = {
        r["deletion_reason"]
        for r in await conn.fetch(
            "SELECT deletion_reason FROM recordings WHERE case_id = ANY($1) UNION ALL "
            "SELECT deletion_reason FROM voice_messages WHERE case_id = ANY($1)",
            list(world.a_cases),
        )
    }
    assert reasons == {"erasure"}
    blanked = await conn.fetch(
        "SELECT caller_number, caller_email, caller_name, total_time FROM cases "
        "WHERE id = ANY($1)", list(world.a_cases),
    )  # fmt: skip
    assert all(r["caller_number"] is None and r["caller_email"] is None for r in blanked)
    assert all(r["total_time"] == timedelta(minutes=2) for r in blanked)  # statistics stay
    other = await conn.fetchrow("SELECT caller_number FROM cases WHERE id = $1", world.b_case)
    assert other["caller_number"] == "+358409999999"
    ledger = await conn.fetchrow("SELECT * FROM erasure_ledger")
    assert ledger["request_ref"] == "DSR-7" and ledger["actor"] == "user:dpo-admin"
    assert json.loads(ledger["counts"]) if isinstance(ledger["counts"], str) else ledger["counts"]
    assert "401234567" not in str(dict(ledger)) and "example" not in str(dict(ledger)).lower()

    code, stdout, stderr = run_cli(scratch_db, store, "export", "--tenant", world.slug,
                                   "--phone", "+358401234567", "--by", "dpo-admin",
                                   "--out", str(out))  # fmt: skip
    assert code == 0, stderr
    after = json.loads((bundle_of(stdout) / "subject.json").read_text())
    assert len(after["erasures"]) == 1 and after["erasures"][0]["request_ref"] == "DSR-7"
    empty = ("cases", "queue_entries", "case_events", "contact_requests", "callback_attempts",
             "recordings", "voice_messages", "listening_events", "restrictions")  # fmt: skip
    for section in empty:
        assert after[section] == [], section
    assert list((bundle_of(stdout) / "audio").iterdir()) == []
    actions = [r["action"] for r in await conn.fetch("SELECT action FROM audit_log")]
    assert actions.count("subject.export") == 2 and actions.count("erasure") == 1
    assert actions.count("audio.deleted") >= 2  # recordings and voice messages, reason erasure
    verify = linja(cli_env(scratch_db, store), "audit", "verify")
    assert verify.returncode == 0 and "intact" in verify.stdout


async def test_restrict_and_lift_and_bad_input(
    scratch_db: Settings, engine: AsyncEngine, conn: asyncpg.Connection, world: World,
    tmp_path: Path,
) -> None:  # fmt: skip
    store = tmp_path / "store"
    repo = RestrictionRepository(session_factory(engine))
    assert not await repo.is_restricted(world.tenant_id, number="0401234567")
    code, stdout, stderr = run_cli(scratch_db, store, "restrict", "--tenant", world.slug,
                                   "--phone", "+358401234567", "--by", "dpo-admin",
                                   "--reason", "disputed")  # fmt: skip
    assert code == 0, stderr
    assert "2 cases marked" in stdout
    for spelling in ("0401234567", "+358 40 123 4567", "00358401234567"):
        assert await repo.is_restricted(world.tenant_id, number=spelling)
    assert not await repo.is_restricted(world.tenant_id, number="+358409999999")
    assert not await repo.is_restricted(world.tenant_id, number="anonymous")
    assert not await repo.is_restricted(uuid.uuid4(), number="0401234567")  # other tenant
    restricted = await conn.fetchval("SELECT count(*) FROM cases WHERE restricted_at IS NOT NULL")
    assert restricted == 2
    assert store_files(store)  # nothing deleted
    code, _, stderr = run_cli(scratch_db, store, "unrestrict", "--tenant", world.slug,
                              "--phone", "0401234567", "--by", "dpo-admin")  # fmt: skip
    assert code == 0, stderr
    assert not await repo.is_restricted(world.tenant_id, number="0401234567")
    for args, message in (
        (["--tenant", world.slug, "--by", "dpo-admin"], "give --phone or --email"),
        (["--tenant", world.slug, "--phone", "12ab", "--by", "dpo-admin"], "not a phone"),
        (["--tenant", world.slug, "--email", "nope", "--by", "dpo-admin"], "not an e-mail"),
        (["--tenant", "no-such", "--phone", "0401", "--by", "dpo-admin"], "no tenant"),
        (["--tenant", world.slug, "--phone", "0401", "--by", "team-user"], "not an active admin"),
        (["--tenant", world.slug, "--phone", "0401", "--by", "ghost"], "no user"),
    ):
        code, _, stderr = run_cli(scratch_db, store, "restrict", *args)
        assert code == 2 and message in stderr, (args, stderr)
    code, _, stderr = run_cli(scratch_db, store, "unrestrict", "--tenant", world.slug,
                              "--phone", "0401234567", "--by", "dpo-admin")  # fmt: skip
    assert code == 2 and "not found" in stderr  # nothing left to lift
    actions = [r["action"] for r in await conn.fetch("SELECT action FROM audit_log")]
    assert actions.count("subject.restrict") == 1 and actions.count("subject.unrestrict") == 1


async def test_http_api_is_admin_only_and_exports_and_erases(
    engine: AsyncEngine, conn: asyncpg.Connection, world: World, tmp_path: Path
) -> None:
    sessions = session_factory(engine)
    app = new_app()
    rights = SubjectRights(sessions, AudioStore(tmp_path / "store"), lambda: datetime.now(UTC))
    users = UserRepository(sessions, Hasher.fast_for_tests())
    guard = Guard(users, Directory(TenantRepository(sessions), users), audit=AuditLog(sessions))
    await users.create(
        tenant_id=await new_tenant(conn, "3 months"), name="Other", login="other-admin",
        password=ADMIN_PW, role=Role.ADMIN, actor=Actor.system("tests"),
    )  # fmt: skip
    add_routes(app, rights, guard, ExportBundles(tmp_path / "exp", timedelta(hours=24)))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}/api/subjects"
    admin = {"Authorization": aiohttp.encode_basic_auth("dpo-admin", ADMIN_PW)}
    body = {"tenant": world.slug, "phone": "0401234567"}
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{base}/export", json=body) as r:
                assert r.status == 401
            team = {"Authorization": aiohttp.encode_basic_auth("team-user", ADMIN_PW)}
            async with http.post(f"{base}/export", json=body, headers=team) as r:
                assert r.status == 403
            other = {"Authorization": aiohttp.encode_basic_auth("other-admin", ADMIN_PW)}
            async with http.post(f"{base}/export", json=body, headers=other) as r:
                assert r.status == 403  # an admin, but of another tenant
                assert (await r.json())["type"] == "urn:linja:problem:other-tenant"
            bad_fields = {"tenant": world.slug, "phone": "x1", "email": "nope", "extra": 1}
            async with http.post(f"{base}/export", json=bad_fields, headers=admin) as r:
                assert r.status == 400 and r.content_type == "application/problem+json"
                assert set((await r.json())["errors"]) == {"phone", "email", "extra"}
            for bad in (b"not json", b"[1]", json.dumps({"tenant": world.slug}).encode(),
                        json.dumps({**body, "phone": "x1"}).encode(),
                        json.dumps({**body, "extra": 1}).encode()):  # fmt: skip
                as_json = {**admin, "Content-Type": "application/json"}
                async with http.post(f"{base}/export", data=bad, headers=as_json) as r:
                    assert r.status == 400, bad
                async with http.post(f"{base}/export", data=bad, headers=admin) as r:
                    assert r.status == 415, bad  # not sent as JSON
            async with http.post(
                f"{base}/export", json={**body, "tenant": "nope"}, headers=admin
            ) as r:
                assert r.status == 404
            async with http.post(f"{base}/export", json=body, headers=admin) as r:
                assert r.status == 200
                doc = (await r.json())["subject"]
            assert {uuid.UUID(c["id"]) for c in doc["cases"]} == world.a_cases - {
                # the e-mail-only case is not found by the number alone
                c for c in world.a_cases
                if await conn.fetchval("SELECT caller_number FROM cases WHERE id = $1", c) is None
            }  # fmt: skip
            async with http.post(
                f"{base}/erase", json={**body, "ref": "API-1"}, headers=admin
            ) as r:
                assert r.status == 200
                erased = await r.json()
            assert erased["counts"]["cases"] == 2 and erased["files_deleted"] == 3
            async with http.post(f"{base}/export", json=body, headers=admin) as r:
                after = (await r.json())["subject"]
            assert after["cases"] == [] and len(after["erasures"]) == 1
    finally:
        await runner.cleanup()
