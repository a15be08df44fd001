"""Contact requests from SMS, e-mail, chat and web: the webhooks and the agents' request API,
in-process (aiohttp TestServer) against a fresh migrated database in the real Postgres."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.config import Settings
from ivr.directory import Directory
from ivr.http.contacts import MAX_BODY, ContactDeps, add_routes
from ivr.http.edge import new_app
from ivr.http.guard import Guard
from storage.db import connect, make_engine, session_factory
from storage.domain import Actor, TenantInfo, UserInfo
from storage.events import Role
from storage.passwords import Hasher
from storage.repositories.audit import AuditLog
from storage.repositories.cases import CaseRepository
from storage.repositories.contact_requests import ContactRequestRepository
from storage.repositories.intake_tokens import IntakeTokenRepository
from storage.repositories.restrictions import RestrictionRepository
from storage.repositories.tenants import TenantRepository
from storage.repositories.users import UserRepository

pytestmark = pytest.mark.integration

QUEUES = {"taksi": ["taxi", "support"], "muu": ["general"]}
PASSWORD = "salasana-123"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Api:
    client: TestClient[Any, Any]
    settings: Settings
    clock: Clock
    taksi: TenantInfo
    muu: TenantInfo
    users: dict[str, UserInfo]
    tokens: dict[str, str]  # a live intake token per tenant slug

    def bearer(self, tenant: str = "taksi") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[tenant]}"}

    def basic(self, login: str, password: str = PASSWORD) -> dict[str, str]:
        return {"Authorization": aiohttp.encode_basic_auth(login, password)}

    async def post(
        self, channel: str, body: Any, *, tenant: str = "taksi", **headers: str
    ) -> aiohttp.ClientResponse:
        return await self.client.post(
            f"/api/intake/{tenant}/{channel}",
            json=body,
            headers={**self.bearer(tenant), **headers},
        )

    async def db(self, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await connect(self.settings, "super")
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()


def _app(engine: AsyncEngine, clock: Clock) -> web.Application:
    sessions = session_factory(engine)
    users = UserRepository(sessions, Hasher.fast_for_tests())
    app = new_app()
    add_routes(
        app,
        ContactDeps(
            requests=ContactRequestRepository(sessions),
            clock=clock,
            intake_tokens=IntakeTokenRepository(sessions),
            queues_of=QUEUES.get,
        ),
        Guard(users, Directory(TenantRepository(sessions), users), audit=AuditLog(sessions)),
    )
    return app


@pytest.fixture
async def api(scratch_db: Settings) -> AsyncIterator[Api]:
    engine = make_engine(scratch_db, pool_size=12)
    sessions = session_factory(engine)
    system = Actor.system("tests")
    tenants = TenantRepository(sessions)
    taksi = await tenants.create("taksi", "Taksi Oy", system)
    muu = await tenants.create("muu", "Muu Oy", system)
    repo = UserRepository(sessions, Hasher.fast_for_tests())
    users = {}
    for login, tenant, role in (
        ("admin", taksi, Role.ADMIN),
        ("agent1", taksi, Role.TEAM),
        ("agent2", taksi, Role.TEAM),
        ("ulkoinen", taksi, Role.EXTERNAL),
        ("muuagentti", muu, Role.TEAM),
        ("root", None, Role.OPERATOR),
    ):
        users[login] = await repo.create(
            tenant_id=tenant and tenant.id, name=login, login=login, password=PASSWORD, role=role,
            actor=system,
        )  # fmt: skip
    issued = IntakeTokenRepository(sessions)
    tokens = {t.slug: (await issued.add(t.id, system)).token for t in (taksi, muu)}
    clock = Clock()
    client = TestClient(TestServer(_app(engine, clock), host="127.0.0.1"))
    await client.start_server()
    try:
        yield Api(client, scratch_db, clock, taksi, muu, users, tokens)
    finally:
        await client.close()
        await engine.dispose()


SMS = {"phone": "040 123 4567", "message": "Taksi Mannerheimintie 1:een klo 7", "to": "+3584012"}
EMAIL = {"email": "Asiakas@Esimerkki.FI", "subject": "Tilaus", "message": "Taksi asemalle."}
CHAT = {"name": "Maija", "email": "maija@example.fi", "message": "Onko autoja vapaana?"}
WEB = {"name": "Pekka", "phone": "+358 50 765 4321", "message": "Soittakaa", "queue": "support"}


# ----- intake: valid ------------------------------------------------------------------------


async def test_each_channel_creates_a_case_and_a_request_in_the_queue(api: Api) -> None:
    ids = {}
    for channel, body in (("sms", SMS), ("email", EMAIL), ("chat", CHAT), ("web", WEB)):
        resp = await api.post(channel, body)
        assert resp.status == 201, await resp.text()
        got = await resp.json()
        assert got["channel"] == channel and got["status"] == "open"
        ids[channel] = got

    # No queue in the payload: the tenant's first queue; the web form named "support".
    assert [ids[c]["queue"] for c in ("sms", "email", "chat", "web")] == [
        "taxi", "taxi", "taxi", "support"
    ]  # fmt: skip
    rows = {
        r["channel"]: r
        for r in await api.db(
            "SELECT r.*, c.channel AS case_channel, c.caller_number, c.caller_email, "
            "c.caller_name, c.service_number, c.tenant_id AS case_tenant "
            "FROM contact_requests r JOIN cases c ON c.id = r.case_id"
        )
    }
    assert set(rows) == {"sms", "email", "chat", "web"}
    for channel, row in rows.items():
        assert (
            str(row["id"]) == ids[channel]["id"] and str(row["case_id"]) == ids[channel]["case_id"]
        )
        assert row["case_channel"] == channel and row["case_tenant"] == api.taksi.id
        assert row["status"] == "open" and row["requested_at"] == T0
        assert row["idempotency_key"] is None and row["request_hash"] is None
    sms, email, chat, web_ = rows["sms"], rows["email"], rows["chat"], rows["web"]
    assert sms["callback_number"] == sms["caller_number"] == "+358401234567"
    assert sms["message"] == SMS["message"] and sms["service_number"] == "+3584012"
    assert email["email"] == "Asiakas@esimerkki.fi" and email["callback_number"] is None
    assert email["message"] == "Tilaus\n\nTaksi asemalle."
    assert chat["name"] == chat["caller_name"] == "Maija" and chat["email"] == "maija@example.fi"
    assert web_["callback_number"] == "+358507654321" and web_["queue"] == "support"


async def test_web_form_posts_urlencoded(api: Api) -> None:
    resp = await api.client.post(
        "/api/intake/taksi/web",
        data={
            "name": "Liisa",
            "email": "liisa@example.fi",
            "phone": "",
            "message": "Hei\r\nkiitos",
        },
        headers=api.bearer(),
    )
    assert resp.status == 201, await resp.text()
    (row,) = await api.db("SELECT name, email, callback_number, message FROM contact_requests")
    assert dict(row) == {
        "name": "Liisa", "email": "liisa@example.fi", "callback_number": None,
        "message": "Hei\nkiitos",
    }  # fmt: skip


# ----- intake: refused ----------------------------------------------------------------------


async def test_malformed_payloads_get_400_with_field_errors_and_store_nothing(api: Api) -> None:
    cases: list[tuple[str, Any, dict[str, str]]] = [
        ("sms", {"message": "hei"}, {"phone": "required"}),
        ("sms", {"phone": "12", "message": "hei"}, {"phone": "not a phone number"}),
        ("sms", {"phone": 358401234567, "message": "hei"}, {"phone": "must be a string"}),
        ("sms", {**SMS, "email": "a@b.fi"}, {"email": "not accepted for sms"}),
        ("sms", {**SMS, "raw_headers": {"X": "y"}}, {"raw_headers": "unknown field"}),
        ("email", {"email": "ei-osoite", "message": "x"}, {"email": "not an e-mail address"}),
        ("email", {"email": "a@b.fi", "message": "   "}, {"message": "required"}),
        ("email", {"email": "a@b.fi", "message": "x" * 5001}, {"message": "longer than 5000"}),
        ("chat", {"message": "hei"}, {"phone": "give a phone number or an e-mail address"}),
        ("web", {**WEB, "name": ["Pekka"]}, {"name": "must be a string, not an array"}),
        ("web", {**WEB, "name": "x\x00y"}, {"name": "control character"}),
        ("web", {**WEB, "queue": "no such"}, {"queue": "letters, digits"}),
        ("web", {**WEB, "queue": "sales"}, {"queue": "unknown queue (known: taxi, support)"}),
        ("web", [WEB], {"body": "expected a JSON object, got an array"}),
    ]
    for channel, body, expected in cases:
        resp = await api.post(channel, body)
        assert resp.status == 400, (channel, body, await resp.text())
        errors = (await resp.json())["errors"]
        assert set(errors) == set(expected), (body, errors)
        for field, fragment in expected.items():
            assert fragment in errors[field], (body, errors)

    bad_json = await api.client.post(
        "/api/intake/taksi/sms",
        data=b'{"phone": "0401234567", "message": ',
        headers={**api.bearer(), "Content-Type": "application/json"},
    )
    assert bad_json.status == 400
    assert "not valid JSON" in (await bad_json.json())["errors"]["body"]
    dup = await api.client.post(
        "/api/intake/taksi/sms",
        data=b'{"phone": "0401234567", "message": "a", "message": "b"}',
        headers={**api.bearer(), "Content-Type": "application/json"},
    )
    assert dup.status == 400 and (await dup.json())["errors"] == {"message": "given more than once"}

    several = await api.post("sms", {"phone": "abc", "message": "", "foo": 1})
    assert set((await several.json())["errors"]) == {"phone", "message", "foo"}  # all at once

    assert await api.db("SELECT id FROM contact_requests") == []
    assert await api.db("SELECT id FROM cases") == []


async def test_intake_needs_the_tenants_bearer_token(api: Api) -> None:
    url = "/api/intake/taksi/sms"
    no_token = await api.client.post(url, json=SMS)
    assert no_token.status == 401 and "Bearer" in no_token.headers["WWW-Authenticate"]
    other_tenant = await api.client.post(url, json=SMS, headers=api.bearer("muu"))
    assert other_tenant.status == 401
    wrong = await api.client.post(url, json=SMS, headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    token = api.tokens["taksi"]
    in_url = await api.client.post(f"{url}?token={token}", json=SMS)
    assert in_url.status == 401  # never from the URL
    basic = await api.client.post(url, json=SMS, headers=api.basic("admin"))
    assert basic.status == 401
    api.tokens["eiole"] = token
    unknown = await api.post("sms", SMS, tenant="eiole")
    assert unknown.status == 401  # no token names an unknown tenant: no slug enumeration
    assert await api.db("SELECT id FROM contact_requests") == []


async def test_content_type_and_body_size(api: Api) -> None:
    text = await api.client.post(
        "/api/intake/taksi/sms",
        data="phone=0401234567&message=hei",
        headers={**api.bearer(), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert text.status == 415  # a form is only for the web channel
    plain = await api.client.post(
        "/api/intake/taksi/web",
        data=b"hei",
        headers={**api.bearer(), "Content-Type": "text/plain"},
    )
    assert plain.status == 415
    latin1 = await api.client.post(
        "/api/intake/taksi/sms",
        data=b'{"phone": "0401234567", "message": "h\xe4"}',
        headers={**api.bearer(), "Content-Type": "application/json; charset=latin-1"},
    )
    assert latin1.status == 415

    big = {**SMS, "message": "x" * (MAX_BODY + 1)}
    too_big = await api.post("sms", big)
    assert too_big.status == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while reading
        yield b'{"phone": "0401234567", "message": "'
        for _ in range(70):
            yield b"x" * 1024
        yield b'"}'

    chunked = await api.client.post(
        "/api/intake/taksi/sms",
        data=chunks(),
        headers={**api.bearer(), "Content-Type": "application/json"},
    )
    assert chunked.status == 413
    assert await api.db("SELECT id FROM contact_requests") == []


# ----- idempotency --------------------------------------------------------------------------


async def test_a_repeat_with_the_same_key_is_not_duplicated(api: Api) -> None:
    first = await api.post("sms", SMS, **{"Idempotency-Key": "gw-msg-0001"})
    assert first.status == 201
    api.clock.now = T0.replace(minute=5)
    again = await api.post("sms", SMS, **{"Idempotency-Key": "gw-msg-0001"})
    assert again.status == 200
    assert (await again.json()) == (await first.json())

    # The key may come in the payload instead of the header: same submission, same request.
    in_body = await api.post("sms", {**SMS, "idempotency_key": "gw-msg-0001"})
    assert in_body.status == 200 and (await in_body.json())["id"] == (await first.json())["id"]

    changed = await api.post(
        "sms", {**SMS, "message": "toinen viesti"}, **{"Idempotency-Key": "gw-msg-0001"}
    )
    assert changed.status == 409
    assert "idempotency_key" in (await changed.json())["errors"]

    # Same key at another tenant, and a new key: new requests.
    other = await api.post("sms", SMS, tenant="muu", **{"Idempotency-Key": "gw-msg-0001"})
    assert other.status == 201
    new_key = await api.post("sms", SMS, **{"Idempotency-Key": "gw-msg-0002"})
    assert new_key.status == 201
    mismatch = await api.post("sms", {**SMS, "idempotency_key": "a"}, **{"Idempotency-Key": "b"})
    assert mismatch.status == 400

    rows = await api.db("SELECT tenant_id, idempotency_key, requested_at FROM contact_requests")
    assert sorted((r["tenant_id"] == api.taksi.id, r["idempotency_key"]) for r in rows) == [
        (False, "gw-msg-0001"), (True, "gw-msg-0001"), (True, "gw-msg-0002")
    ]  # fmt: skip
    assert len(await api.db("SELECT id FROM cases")) == 3
    (first_row,) = [
        r for r in rows if r["idempotency_key"] == "gw-msg-0001" and r["tenant_id"] == api.taksi.id
    ]
    assert first_row["requested_at"] == T0  # the repeats changed nothing


async def test_racing_identical_submissions_create_one_request(api: Api) -> None:
    key = {"Idempotency-Key": f"race-{uuid.uuid4()}"}
    for _round in range(3):
        statuses = await asyncio.gather(*(api.post("chat", CHAT, **key) for _ in range(10)))
        bodies = [await r.json() for r in statuses]
        assert len({b["id"] for b in bodies}) == 1
    codes = sorted(r.status for r in statuses)
    assert codes == [200] * 10  # the later rounds are all repeats
    assert len(await api.db("SELECT id FROM contact_requests")) == 1
    assert len(await api.db("SELECT id FROM cases")) == 1


async def test_first_race_has_exactly_one_201(api: Api) -> None:
    key = {"Idempotency-Key": f"race-{uuid.uuid4()}"}
    resps = await asyncio.gather(*(api.post("web", WEB, **key) for _ in range(12)))
    assert sorted(r.status for r in resps) == [200] * 11 + [201]
    assert len(await api.db("SELECT id FROM cases")) == 1


# ----- agents -------------------------------------------------------------------------------


async def _submit(api: Api, channel: str, body: dict[str, str], minute: int) -> str:
    api.clock.now = T0.replace(minute=minute)
    resp = await api.post(channel, body)
    assert resp.status == 201
    return str((await resp.json())["id"])


async def test_agents_claim_complete_release_and_cancel(api: Api) -> None:
    sms = await _submit(api, "sms", SMS, 1)
    web_ = await _submit(api, "web", WEB, 2)  # queue "support"
    chat = await _submit(api, "chat", CHAT, 3)

    listing = await api.client.get("/api/requests?queue=taxi", headers=api.basic("agent1"))
    assert listing.status == 200
    assert [r["id"] for r in (await listing.json())["requests"]] == [sms, chat]
    assert (await listing.json())["requests"][0]["phone"] == "+358401234567"

    api.clock.now = T0.replace(minute=10)
    c1 = await api.client.post("/api/requests/claim?queue=taxi", headers=api.basic("agent1"))
    assert c1.status == 200 and (await c1.json())["id"] == sms  # oldest first
    assert (await c1.json())["claimed_by"] == str(api.users["agent1"].id)

    # agent2 may not complete or release agent1's claim; completing an unclaimed one is a 409.
    path = f"/api/requests/{sms}"
    assert (await api.client.post(f"{path}/complete", headers=api.basic("agent2"))).status == 403
    assert (await api.client.post(f"{path}/release", headers=api.basic("agent2"))).status == 403
    unclaimed = await api.client.post(f"/api/requests/{chat}/complete", headers=api.basic("agent2"))
    assert unclaimed.status == 409

    rel = await api.client.post(f"{path}/release", headers=api.basic("agent1"))
    assert rel.status == 200 and (await rel.json())["status"] == "open"
    c2 = await api.client.post("/api/requests/claim?queue=taxi", headers=api.basic("agent2"))
    assert (await c2.json())["id"] == sms

    api.clock.now = T0.replace(minute=20)
    done = await api.client.post(f"{path}/complete", headers=api.basic("agent2"))
    assert done.status == 200
    got = await done.json()
    assert got["status"] == "done" and got["last_agent_id"] == str(api.users["agent2"].id)
    again = await api.client.post(f"{path}/complete", headers=api.basic("agent2"))
    assert again.status == 409

    (case,) = await api.db(
        "SELECT c.outcome, c.agent_id, c.ended_at, c.service_time FROM cases c "
        "JOIN contact_requests r ON r.case_id = c.id WHERE r.id = $1",
        uuid.UUID(sms),
    )
    assert case["outcome"] == "handled" and case["agent_id"] == api.users["agent2"].id
    assert case["ended_at"] == T0.replace(minute=20)

    # Cancel an open one (team may); the admin may act on another agent's claim.
    cancel = await api.client.post(f"/api/requests/{chat}/cancel", headers=api.basic("agent1"))
    assert cancel.status == 200 and (await cancel.json())["status"] == "cancelled"
    c3 = await api.client.post("/api/requests/claim", headers=api.basic("agent1"))
    assert (await c3.json())["id"] == web_
    by_admin = await api.client.post(f"/api/requests/{web_}/complete", headers=api.basic("admin"))
    assert by_admin.status == 200
    empty = await api.client.post("/api/requests/claim", headers=api.basic("agent1"))
    assert empty.status == 204

    audit = await api.db(
        "SELECT action, actor, target_id, details FROM audit_log "
        "WHERE target_type = 'contact_request' ORDER BY id"
    )
    assert [(a["action"], a["actor"]) for a in audit] == [
        ("contact_request.claim", "user:agent1"),
        ("contact_request.release", "user:agent1"),
        ("contact_request.claim", "user:agent2"),
        ("contact_request.complete", "user:agent2"),
        ("contact_request.cancel", "user:agent1"),
        ("contact_request.claim", "user:agent1"),
        ("contact_request.complete", "user:admin"),
    ]
    assert all("+358" not in str(a["details"]) and "@" not in str(a["details"]) for a in audit)


async def test_agent_api_access_rules(api: Api) -> None:
    req = await _submit(api, "sms", SMS, 1)
    assert (await api.client.get("/api/requests")).status == 401
    bad = api.basic("agent1", "wrong")
    assert (await api.client.get("/api/requests", headers=bad)).status == 401
    ext = api.basic("ulkoinen")
    assert (await api.client.get("/api/requests", headers=ext)).status == 403
    assert (await api.client.post("/api/requests/claim", headers=ext)).status == 403
    assert (await api.client.post(f"/api/requests/{req}/cancel", headers=ext)).status == 403

    # Another tenant's agent sees nothing and cannot touch the request (404, not 403).
    other = api.basic("muuagentti")
    assert (await (await api.client.get("/api/requests", headers=other)).json())["requests"] == []
    assert (await api.client.post("/api/requests/claim", headers=other)).status == 204
    assert (await api.client.post(f"/api/requests/{req}/cancel", headers=other)).status == 404
    cross = await api.client.get("/api/requests?tenant=taksi", headers=other)
    assert cross.status == 403
    assert (await api.client.post("/api/requests/nonsense/cancel", headers=other)).status == 404
    bad_channel = await api.client.get("/api/requests?channel=fax", headers=api.basic("agent1"))
    assert bad_channel.status == 400
    (row,) = await api.db("SELECT status FROM contact_requests")
    assert row["status"] == "open"

    # An admin of no tenant names the tenant to act in.
    root = api.basic("root")
    assert (await api.client.get("/api/requests", headers=root)).status == 400
    got = await api.client.get("/api/requests?tenant=taksi", headers=root)
    assert [r["id"] for r in (await got.json())["requests"]] == [req]
    assert (await api.client.get("/api/requests?tenant=eiole", headers=root)).status == 404


async def test_concurrent_claims_never_hand_out_a_request_twice(api: Api) -> None:
    ids = {await _submit(api, "sms", {**SMS, "message": f"viesti {i}"}, i) for i in range(6)}
    agents = ["agent1", "agent2", "admin"] * 3
    resps = await asyncio.gather(
        *(api.client.post("/api/requests/claim", headers=api.basic(a)) for a in agents)
    )
    claimed = [(await r.json())["id"] for r in resps if r.status == 200]
    assert sorted(r.status for r in resps) == [200] * 6 + [204] * 3
    assert sorted(claimed) == sorted(ids)  # each exactly once
    rows = await api.db("SELECT status, claimed_by FROM contact_requests")
    assert all(r["status"] == "claimed" and r["claimed_by"] is not None for r in rows)


# ----- database down ------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_database_down_answers_503_so_the_gateway_retries(api: Api) -> None:
    down = api.settings.model_copy(update={"pg_port": _closed_port()})
    engine = make_engine(down, pool_size=1)
    app = _app(engine, api.clock)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        resp = await client.post(
            "/api/intake/taksi/sms",
            json=SMS,
            headers=api.bearer(),
            timeout=aiohttp.ClientTimeout(20),
        )
        assert resp.status == 503 and resp.headers["Retry-After"] == "5"
    await engine.dispose()
    # The real database is untouched; the same submission goes in once it is back.
    assert await api.db("SELECT id FROM contact_requests") == []
    assert (await api.post("sms", SMS)).status == 201


async def test_a_restricted_case_is_not_handed_out(api: Api) -> None:
    first = await api.post("sms", SMS)
    second = await api.post("email", EMAIL)
    engine = make_engine(api.settings, pool_size=1)
    try:
        await CaseRepository(session_factory(engine)).restrict(
            uuid.UUID((await first.json())["case_id"]), Actor.system("tests")
        )
    finally:
        await engine.dispose()
    got = await api.client.post("/api/requests/claim", headers=api.basic("agent1"))
    assert (await got.json())["id"] == (await second.json())["id"]
    none = await api.client.post("/api/requests/claim", headers=api.basic("agent1"))
    assert none.status == 204


# ----- issue 17 item 3: a restricted person's later requests --------------------------------

DPO = Actor.system("dpo-tests")


async def _restrictions(api: Api) -> tuple[RestrictionRepository, AsyncEngine]:
    engine = make_engine(api.settings, pool_size=1)
    return RestrictionRepository(session_factory(engine)), engine


async def _restricted_at(api: Api, request_id: str) -> datetime | None:
    (row,) = await api.db(
        "SELECT c.restricted_at FROM contact_requests r JOIN cases c ON c.id = r.case_id "
        "WHERE r.id = $1",
        uuid.UUID(request_id),
    )
    restricted: datetime | None = row["restricted_at"]
    return restricted


async def _claim_all(api: Api, login: str = "agent1") -> list[str]:
    """Every request the agent can claim, in order, until the API answers 204."""
    got: list[str] = []
    for _ in range(10):
        resp = await api.client.post("/api/requests/claim", headers=api.basic(login))
        if resp.status == 204:
            return got
        assert resp.status == 200, await resp.text()
        got.append((await resp.json())["id"])
    raise AssertionError(f"more claims than requests: {got}")


async def test_i17_restricted_persons_later_sms_is_stored_but_never_claimed(api: Api) -> None:
    repo, engine = await _restrictions(api)
    try:
        # Restricted in another spelling than the SMS gateway will send it, and by e-mail
        # in another case than the e-mail will arrive in.
        await repo.restrict(api.taksi.id, DPO, number="+358401234567", now=T0)
        await repo.restrict(api.taksi.id, DPO, email="asiakas@esimerkki.fi", now=T0)
    finally:
        await engine.dispose()
    sms = await _submit(api, "sms", SMS, minute=1)  # phone "040 123 4567"
    email = await _submit(api, "email", EMAIL, minute=2)  # "Asiakas@Esimerkki.FI"
    web = await _submit(api, "web", {"phone": "0401234567", "message": "Hei"}, minute=3)
    other = await _submit(api, "sms", {"phone": "+358 50 111 2222", "message": "Hei"}, minute=4)

    # Nothing is lost: every request and its case is stored; the restricted ones are marked.
    stored = {str(r["id"]) for r in await api.db("SELECT id FROM contact_requests")}
    assert stored == {sms, email, web, other}
    for restricted in (sms, email, web):
        assert await _restricted_at(api, restricted) is not None, restricted
    assert await _restricted_at(api, other) is None

    # Neither an agent nor an admin is ever handed a restricted request.
    assert await _claim_all(api, "agent1") == [other]
    assert await _claim_all(api, "admin") == []

    # The listing shows that they exist, but none of their content.
    listing = await api.client.get("/api/requests", headers=api.basic("agent1"))
    rows = {r["id"]: r for r in (await listing.json())["requests"]}
    assert set(rows) == {sms, email, web, other}
    for restricted in (sms, email, web):
        row = rows[restricted]
        assert row["restricted"] is True and row["status"] == "open"
        assert (row["name"], row["phone"], row["email"], row["message"]) == (None,) * 4
    assert rows[other]["restricted"] is False and rows[other]["message"] == "Hei"


async def test_i17_restricted_request_is_not_claimed_even_if_its_case_was_not_marked(
    api: Api,
) -> None:
    """A restriction committed while a request was being stored (its case left unmarked)
    still keeps the request from agents: the claim checks the active restrictions too."""
    sms = await _submit(api, "sms", SMS, minute=1)
    repo, engine = await _restrictions(api)
    try:
        await repo.restrict(api.taksi.id, DPO, number="0401234567", now=T0)
    finally:
        await engine.dispose()
    await api.db("UPDATE cases SET restricted_at = NULL")  # as if the race was lost
    assert await _claim_all(api) == []
    assert await _restricted_at(api, sms) is None


async def test_i17_lifting_the_phone_restriction_keeps_what_the_email_one_covers(
    api: Api,
) -> None:
    phone_only = await _submit(api, "sms", SMS, minute=1)
    email_only = await _submit(api, "email", EMAIL, minute=2)
    both = await _submit(
        api, "web", {"phone": "+358401234567", "email": "asiakas@esimerkki.fi", "message": "Hei"},
        minute=3,
    )  # fmt: skip
    repo, engine = await _restrictions(api)
    try:
        _, by_phone = await repo.restrict(api.taksi.id, DPO, number="0401234567", now=T0)
        _, by_email = await repo.restrict(api.taksi.id, DPO, email="ASIAKAS@esimerkki.fi", now=T0)
        assert (by_phone, by_email) == (2, 1)  # the web case was marked by the phone one
        assert await repo.lift(api.taksi.id, DPO, number="+358 40 123 4567", now=T0) == 1

        # The e-mail restriction still covers the e-mail and the web request (it names the
        # address); only the SMS is re-opened.
        assert await _restricted_at(api, phone_only) is None
        assert await _restricted_at(api, email_only) is not None
        assert await _restricted_at(api, both) is not None

        # Later requests follow the restrictions that are still active.
        later_sms = await _submit(api, "sms", SMS, minute=4)
        later_web = await _submit(
            api, "web", {"phone": "0401234567", "email": "Asiakas@Esimerkki.fi", "message": "?"},
            minute=5,
        )  # fmt: skip
        assert await _restricted_at(api, later_sms) is None
        assert await _restricted_at(api, later_web) is not None
        assert await _claim_all(api) == [phone_only, later_sms]

        # Lifting the e-mail restriction too re-opens the rest.
        assert await repo.lift(api.taksi.id, DPO, email="asiakas@esimerkki.fi", now=T0) == 1
    finally:
        await engine.dispose()
    for request in (email_only, both, later_web):
        assert await _restricted_at(api, request) is None
    assert await _claim_all(api) == [email_only, both, later_web]


async def test_i17_lifting_the_email_restriction_keeps_a_case_the_number_covers_in_any_spelling(
    api: Api,
) -> None:
    web = await _submit(
        api, "web", {"phone": "0401234567", "email": "asiakas@esimerkki.fi", "message": "Hei"},
        minute=1,
    )  # fmt: skip
    # As a call's case stores the number: as the network presented it.
    await api.db("UPDATE cases SET caller_number = '00358401234567'")
    repo, engine = await _restrictions(api)
    try:
        await repo.restrict(api.taksi.id, DPO, email="asiakas@esimerkki.fi", now=T0)
        await repo.restrict(api.taksi.id, DPO, number="+358401234567", now=T0)
        assert await repo.lift(api.taksi.id, DPO, email="Asiakas@Esimerkki.fi", now=T0) == 1
        assert await _restricted_at(api, web) is not None
        assert await _claim_all(api) == []
        assert await repo.lift(api.taksi.id, DPO, number="0401234567", now=T0) == 1
    finally:
        await engine.dispose()
    assert await _restricted_at(api, web) is None
    assert await _claim_all(api) == [web]
    audits = await api.db(
        "SELECT (details->>'cases')::int AS cases, (details->>'still_restricted')::int AS kept "
        "FROM audit_log WHERE action = 'subject.unrestrict' ORDER BY id"
    )
    assert [(a["cases"], a["kept"]) for a in audits] == [(0, 1), (1, 0)]
