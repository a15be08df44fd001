"""The route x role matrix (issue 13): every route of the whole HTTP app, looped over from its
router, x (anonymous, external of A, team of A, admin of A, admin of B, operator) → the status
``route_expectations.EXPECTATIONS`` names, against the real Postgres with tenants A and B.

The app is built as ``linja serve`` builds it (every feature's ``wire`` on one core; fakes for
ARI and prompts only). The route's path parameters are filled with resources of tenant A (a case
with a recording and a voice message in the audio store, a contact request, an agent of A's
queue, …), made anew after every cell that may have used them up (a 2xx to a method other than
GET or HEAD, or a cell with a setup step), so no cell depends on another: a refused cell
changes nothing (checked), and a GET uses nothing up. For every cell that
is refused (not 2xx), nothing in the database (a checksum of every table but the audit log)
nor in the state and audio directories changes, and a 403 writes one ``access.refused``
audit entry naming the route's template (never the concrete URL). A 2xx of tenant B's admin
shows none of A's resources. A route without an expectation, or an expectation without a
route, fails the test.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ivr.app import http_app
from ivr.callcenter.agents import AgentState
from ivr.callcenter.coordinator import QueueCoordinator
from ivr.clock import utcnow
from ivr.config import Settings
from ivr.core import Core
from ivr.flowdefs.model import Queue
from ivr.prompts import PromptRenderer
from storage.db import connect
from storage.domain import Actor, TenantInfo
from storage.events import Channel, Role
from storage.models import Transcript
from storage.repositories.callouts import CalloutRepository, NewCallout
from storage.repositories.contact_requests import ContactRequestRepository
from storage.repositories.logins import ApiTokenRepository
from storage.repositories.staff import StaffGroupRepository
from tests.integration.route_expectations import EXPECTATIONS, PRINCIPALS, Row
from tests.integration.test_listening import seed_audio
from tests.unit.fake_ari import FakeAri
from tests.unit.flows.support_recording import Sink, fake_speak, tenant_flows
from tests.unit.http.whole_app import build_whole_app
from tests.unit.wiring import Definitions, unit_core, wire_all

pytestmark = pytest.mark.integration

A_SLUG, B_SLUG = "wall-a", "wall-b"
PASSWORD = "matrix-password-1"
LOGINS = {
    "external_a": ("ext-a", Role.EXTERNAL, "a"),
    "team_a": ("team-a", Role.TEAM, "a"),  # also the agent of A's queue
    "admin_a": ("admin-a", Role.ADMIN, "a"),
    "admin_b": ("admin-b", Role.ADMIN, "b"),
    "operator": ("op-root", Role.OPERATOR, None),
}
SYSTEM = Actor.system("tests")


class QueueDefinitions(Definitions):
    """One tenant's flows whose queues name its agents."""

    def agents(self) -> set[str]:
        return {a for q in self.flows.queues.values() for a in q.agents}


@dataclass
class Matrix:
    core: Core
    app: web.Application
    client: TestClient[web.Request, web.Application]
    settings: Settings
    tenant_a: TenantInfo
    tmp: Path


def routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, template) of every route, from the router."""
    return sorted(
        {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None}
    )


def expectation(method: str, template: str) -> Row | None:
    found = EXPECTATIONS.get((method, template))
    if found is None and method == "HEAD":
        found = EXPECTATIONS.get(("GET", template))
    return found


def missing_and_stale(app: web.Application) -> tuple[list[str], list[str]]:
    present = routes(app)
    missing = [f"{m} {t}" for m, t in present if expectation(m, t) is None]
    stale = [f"{m} {t}" for m, t in sorted(EXPECTATIONS) if (m, t) not in present]
    return missing, stale


async def test_every_route_has_an_expectation_and_every_expectation_a_route(
    tmp_path: Path,
) -> None:
    async with AsyncExitStack() as stack:
        app = await build_whole_app(tmp_path, stack)
    missing, stale = missing_and_stale(app)
    assert missing == [], f"routes without a line in route_expectations.py: {missing}"
    assert stale == [], f"expectations naming no route: {stale}"


@pytest.fixture
async def matrix(scratch_db: Settings, tmp_path: Path) -> AsyncIterator[Matrix]:
    settings = scratch_db.model_copy(
        update={
            "state_dir": tmp_path / "state",
            "audio_dir": tmp_path / "audio",
            "asterisk_root": tmp_path / "root",
        }
    )
    settings.in_root(settings.recordings_inner).mkdir(parents=True, exist_ok=True)
    state = settings.state_dir
    flows = tenant_flows(state, tenant=A_SLUG, queues={"support": Queue("support", ("team-a",))})
    core = unit_core(
        settings,
        ari=FakeAri(),
        clock=utcnow,
        cases=Sink(),
        prompts=PromptRenderer(state / "sounds", "/sounds", speak=fake_speak),
        definitions=QueueDefinitions(flows),
    )
    async with AsyncExitStack() as stack:
        app = http_app(await wire_all(core, stack))
        a = await core.tenants.create(A_SLUG, "Seinä A Oy", SYSTEM)
        b = await core.tenants.create(B_SLUG, "Seinä B Oy", SYSTEM)
        for login, role, tenant in LOGINS.values():
            await core.users.create(
                tenant_id={"a": a.id, "b": b.id}.get(tenant or ""), name=login, login=login,
                password=PASSWORD, role=role, actor=SYSTEM,
            )  # fmt: skip
        # No cookie jar: the login cell's session cookie must not ride along on later cells.
        client = TestClient(TestServer(app, host="127.0.0.1"), cookie_jar=aiohttp.DummyCookieJar())
        await client.start_server()
        stack.push_async_callback(client.close)
        yield Matrix(core, app, client, settings, a, tmp_path)


async def fresh_resources(m: Matrix) -> dict[str, str]:
    """New resources of tenant A for one cell, by the kind a path parameter names."""
    case_id, rec_id, location, vm_id = await seed_audio(
        m.core.engine, m.core.audio, m.tmp, m.tenant_a.id
    )
    phone = "+35840" + "".join(random.choices("0123456789", k=7))
    submitted = await ContactRequestRepository(m.core.sessions).submit(
        tenant_id=m.tenant_a.id, channel=Channel.SMS, at=datetime.now(UTC), number=phone,
        message="matriisi", queue="support",
    )  # fmt: skip
    team_a = await m.core.users.by_login("team-a")
    _, token = await ApiTokenRepository(m.core.sessions).create(
        team_a, "matrix", datetime.now(UTC), None, SYSTEM
    )
    transcript = uuid.uuid4()
    async with m.core.sessions() as s, s.begin():
        s.add(
            Transcript(
                id=transcript, tenant_id=m.tenant_a.id, case_id=case_id, recording_id=rec_id,
                language="fi", language_detected=False, engine="matrix", model_sha256="0" * 64,
                confidence=0.5, audio_seconds=1.0, processing_seconds=0.1,
                text="soita [PHONE]", redactions={"PHONE": 1},
            )
        )  # fmt: skip
    number = "".join(random.choices("0123456789", k=9))
    await m.core.tenants.add_number(m.tenant_a.id, number, "bulletin", SYSTEM)
    user = f"user-{random.randrange(10**9)}"
    await m.core.users.create(
        tenant_id=m.tenant_a.id, name=user, login=user, password=PASSWORD, role=Role.TEAM,
        actor=SYSTEM,
    )  # fmt: skip
    group = await StaffGroupRepository(m.core.sessions).create_group(
        m.tenant_a.id, f"vikapäivystys-{random.randrange(10**9)}"
    )
    member = await StaffGroupRepository(m.core.sessions).add_member(group.id, "Asentaja", phone)
    callout = await CalloutRepository(m.core.sessions).create(
        NewCallout(
            tenant_id=m.tenant_a.id, group_id=group.id, escalate_group_id=None,
            message="Myrsky: tulkaa töihin", language="fi", needed=1, wait_seconds=600,
            window_seconds=3600, max_attempts=3, retry_delay=60, ring_seconds=30,
            max_parallel=2, pin_required=False, created_by="tests",
        )
    )  # fmt: skip
    return {
        "group_id": str(group.id),
        "group_name": group.name,
        "member_id": str(member.id),
        "callout_id": str(callout),
        "token": str(token.id),
        "number": number,
        "new_number": "".join(random.choices("0123456789", k=9)),
        "user": user,
        "new_login": f"new-{random.randrange(10**9)}",
        "new_slug": f"new-{random.randrange(10**9)}",
        "phone_login": "".join(random.choices("0123456789", k=8)),
        "case_id": str(case_id),
        "recording": str(rec_id),
        "transcript": str(transcript),
        "voice_message": str(vm_id),
        "audio_name": f"{A_SLUG}/{location.partition('/')[2]}",  # the slug form (item 4)
        "request": str(submitted.request.id),
        "agent": "team-a",
        "tenant": A_SLUG,
        "phone": phone,
    }


def fill_path(template: str, spec: Row, values: dict[str, str]) -> str:
    path = template
    for name in [p.strip("{}") for p in template.split("/") if p.startswith("{")]:
        kind = spec.params.get(name, name)
        path = path.replace("{" + name + "}", values.get(kind, kind))
    return path


def fill_body(body: Any, values: dict[str, str]) -> Any:
    if body is None:
        return {}
    return {k: v.format(**values) if isinstance(v, str) else v for k, v in body.items()}


def headers(principal: str) -> dict[str, str]:
    if principal == "anonymous":
        return {}
    return {"Authorization": aiohttp.encode_basic_auth(LOGINS[principal][0], PASSWORD)}


async def db_fingerprint(conn: asyncpg.Connection) -> dict[str, str]:
    """Row count and a digest of every row, per table (one query for them all)."""
    tables = [
        r["tablename"]
        for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename NOT IN ('audit_log', 'alembic_version') ORDER BY tablename"
        )
    ]
    query = " UNION ALL ".join(
        f"SELECT '{t}' AS t, (SELECT count(*) || ':' || md5(coalesce(string_agg(md5(x::text),"
        f" ',' ORDER BY md5(x::text)), '')) FROM \"{t}\" x) AS f"
        for t in tables
    )
    return {r["t"]: r["f"] for r in await conn.fetch(query)}


def files_fingerprint(*roots: Path) -> str:
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                digest.update(f"{path.relative_to(root)}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()


async def _body(reply: aiohttp.ClientResponse) -> bytes:
    """The body; of an event stream (which does not end), its first event."""
    if reply.content_type != "text/event-stream":
        return await reply.read()
    first = b""
    while b"\r\n\r\n" not in first:
        first += await asyncio.wait_for(reply.content.readany(), 10)
    reply.close()
    return first


async def setup(m: Matrix, what: str | None, path: str, body: Any) -> None:
    if what is None:
        return
    if what == "agents_logged_out":
        coordinator = m.core.services.need(QueueCoordinator)
        if coordinator.engine.board.state("team-a") is not AgentState.LOGGED_OUT:
            coordinator.logout("team-a")
        return
    if what == "subject_restricted":
        reply = await m.client.post(
            "/api/subjects/restrict", json=body, headers=headers("operator")
        )
        assert reply.status == 200, await reply.text()
        return
    raise AssertionError(f"unknown setup {what!r}")


async def test_route_matrix_every_route_by_every_kind_of_caller(matrix: Matrix) -> None:
    m = matrix
    missing, stale = missing_and_stale(m.app)
    assert (missing, stale) == ([], []), (missing, stale)
    conn = await connect(m.settings, "super")
    failures: list[str] = []
    cells = refused = audited = 0
    try:
        values: dict[str, str] | None = None
        for method, template in routes(m.app):
            spec = expectation(method, template)
            assert spec is not None
            for principal in PRINCIPALS:
                if values is None:
                    values = await fresh_resources(m)
                cell = values
                cell["me"] = LOGINS[principal][0] if principal in LOGINS else "team-a"
                path = fill_path(template, spec, cell)
                body = fill_body(spec.body, cell)
                await setup(m, spec.setup, path, body)
                params = {"tenant": A_SLUG} if spec.tenant and principal == "operator" else {}
                want = spec.statuses[principal]
                if not 200 <= want < 300:  # a refusal must change nothing: note the state
                    last_audit = await conn.fetchval("SELECT coalesce(max(id), 0) FROM audit_log")
                    before = await db_fingerprint(conn)
                    files = files_fingerprint(m.settings.state_dir, m.settings.audio_store_dir)
                reply = await m.client.request(
                    method, path, params=params, headers=headers(principal),
                    json=None if method in ("GET", "HEAD") else body, allow_redirects=False,
                )  # fmt: skip
                if spec.setup or (200 <= reply.status < 300 and method not in ("GET", "HEAD")):
                    values = None  # the next cell gets new resources
                text = (await _body(reply)).decode("utf-8", "replace")
                cells += 1
                where = f"{method} {template} as {principal}"
                want = spec.statuses[principal]
                if reply.status != want:
                    failures.append(f"{where}: {reply.status}, expected {want}: {text[:160]}")
                    continue
                if 200 <= reply.status < 300:
                    if principal == "admin_b":
                        leaked = [
                            k for k in ("case_id", "recording", "voice_message", "request",
                                        "agent", "phone")
                            if cell[k] in text
                        ]  # fmt: skip
                        if leaked:
                            failures.append(f"{where}: shows tenant A's {leaked}")
                    continue
                refused += 1
                if await db_fingerprint(conn) != before:
                    failures.append(f"{where}: the database changed")
                if files_fingerprint(m.settings.state_dir, m.settings.audio_store_dir) != files:
                    failures.append(f"{where}: files changed")
                entries = [
                    (r["action"], json.loads(r["details"]))
                    for r in await conn.fetch(
                        "SELECT action, details::text FROM audit_log WHERE id > $1 ORDER BY id",
                        last_audit,
                    )
                ]
                here = (template, method)
                refusals = [
                    d for action, d in entries
                    if action == "access.refused" and (d["route"], d["method"]) == here
                ]  # fmt: skip
                others = [
                    a for a, _ in entries if a not in ("access.refused", "audio.listen_refused")
                ]
                if others:
                    failures.append(f"{where}: refused but audited {others}")
                if reply.status == 403:
                    audited += 1
                    if len(refusals) != 1:
                        failures.append(f"{where}: 403 with {len(refusals)} access.refused")
                    if any(path != template and path in json.dumps(d) for _, d in entries):
                        failures.append(f"{where}: the concrete URL is in the audit log")
                elif refusals:
                    failures.append(f"{where}: {reply.status} audited as access.refused")
    finally:
        await conn.close()
    assert failures == [], "\n".join(failures)
    print(f"route matrix: {len(routes(m.app))} routes x {len(PRINCIPALS)} callers = {cells} "
          f"cells, {refused} refused unchanged, {audited} 403s audited")  # fmt: skip
    assert cells == len(routes(m.app)) * len(PRINCIPALS) and audited > 30
