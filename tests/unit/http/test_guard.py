"""The guard: authentication, role, tenant scope (refusals proven, not only successes)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ivr.http.auth import basic_credentials, bearer_token
from ivr.http.edge import new_app
from ivr.http.guard import Guard, IntakeCaller, Principal
from ivr.http.problems import NotAllowed
from storage.domain import UserInfo
from storage.errors import StorageUnavailable
from storage.events import Role
from tests.unit.fake_audit import FakeAudit

A, B = uuid.UUID(int=1), uuid.UUID(int=2)
TENANTS = {"a": A, "b": B}
TOKEN_A, TOKEN_B = "lit_" + "a" * 43, "lit_" + "b" * 43  # shaped like real ones
TOKENS = {("a", TOKEN_A): A, ("b", TOKEN_B): B}


def _user(login: str, role: Role, tenant: uuid.UUID | None) -> UserInfo:
    return UserInfo(
        id=uuid.uuid5(uuid.NAMESPACE_DNS, login), tenant_id=tenant, name=login, login=login,
        email=None, role=role, phone_number=None, phone_login=None, has_phone_pin=False,
        created_at=datetime(2026, 1, 1, tzinfo=UTC), disabled_at=None,
    )  # fmt: skip


USERS = {
    "team-a": _user("team-a", Role.TEAM, A),
    "admin-a": _user("admin-a", Role.ADMIN, A),
    "ext-a": _user("ext-a", Role.EXTERNAL, A),
    "root": _user("root", Role.OPERATOR, None),
    "team-none": _user("team-none", Role.TEAM, None),
}


class Users:
    down = False

    async def authenticate(self, login: str, password: str) -> UserInfo | None:
        if self.down:
            raise StorageUnavailable("connection refused")
        return USERS.get(login) if password == "pw" else None


class Tenants:
    async def tenant_id(self, slug: str) -> uuid.UUID | None:
        return TENANTS.get(slug)


class IntakeTokens:
    down = False

    async def verify(self, slug: str, token: str) -> uuid.UUID | None:
        if self.down:
            raise StorageUnavailable("connection refused")
        return TOKENS.get((slug, token))


def basic(login: str, password: str = "pw") -> dict[str, str]:
    raw = base64.b64encode(f"{login}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


# A resource per tenant, touched only after the guard and the scope check let it through.
RESOURCES = {"r-a": A, "r-b": B}


@dataclass
class World:
    client: TestClient[web.Request, web.Application]
    users: Users
    touched: list[str]
    audit: FakeAudit
    tokens: IntakeTokens

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.client.post(path, **kw)


@pytest.fixture
async def client() -> AsyncIterator[World]:
    users, audit, tokens = Users(), FakeAudit(), IntakeTokens()
    guard = Guard(users, Tenants(), audit=audit)
    app = new_app()
    touched: list[str] = []

    @guard.requires(Role.ADMIN, Role.TEAM)
    async def resource(request: web.Request, who: Principal) -> web.StreamResponse:
        rid = request.match_info["rid"]
        who.scope(RESOURCES[rid])
        touched.append(rid)
        return web.json_response({"login": who.login, "tenant": str(who.tenant_id)})

    @guard.requires(Role.ADMIN, Role.TEAM, tenant_param="tenant")
    async def in_tenant(_: web.Request, who: Principal) -> web.StreamResponse:
        return web.json_response({"tenant": str(who.tenant())})

    @guard.requires(Role.ADMIN, Role.TEAM)
    async def own_check(_: web.Request, who: Principal) -> web.StreamResponse:
        raise NotAllowed("only the agent themself")

    @guard.intake(tokens)
    async def intake(_: web.Request, caller: IntakeCaller) -> web.StreamResponse:
        return web.json_response({"tenant": str(caller.tenant_id)})

    app.router.add_get("/res/{rid}", resource)
    app.router.add_get("/scoped", in_tenant)
    app.router.add_post("/own/{who}", own_check)
    app.router.add_post("/intake/{tenant}", intake)
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield World(c, users, touched, audit, tokens)


async def test_a_resource_of_another_tenant_is_refused_before_it_is_touched(
    client: World,
) -> None:
    ok = await client.get("/res/r-a", headers=basic("team-a"))
    assert ok.status == 200 and await ok.json() == {"login": "team-a", "tenant": str(A)}
    refused = await client.get("/res/r-b", headers=basic("team-a"))
    assert refused.status == 403 and refused.content_type == "application/problem+json"
    assert (await refused.json())["type"] == "urn:linja:problem:other-tenant"
    also = await client.get("/res/r-b", headers=basic("admin-a"))  # a tenant's admin too
    assert also.status == 403
    anyone = await client.get("/res/r-b", headers=basic("root"))  # an admin of no tenant
    assert anyone.status == 200 and (await anyone.json())["tenant"] == "None"
    assert client.touched == ["r-a", "r-b"]


async def test_roles_and_credentials(client: World) -> None:
    none = await client.get("/res/r-a")
    assert none.status == 401 and none.headers["WWW-Authenticate"] == 'Basic realm="linja"'
    assert (await client.get("/res/r-a", headers=basic("team-a", "wrong"))).status == 401
    ext = await client.get("/res/r-a", headers=basic("ext-a"))
    assert ext.status == 403 and "admin or team" in (await ext.json())["detail"]
    client.users.down = True
    down = await client.get("/res/r-a", headers=basic("team-a"))
    assert down.status == 503 and down.headers["Retry-After"] == "5"
    assert client.touched == []


async def test_the_tenant_parameter(client: World) -> None:
    own = await client.get("/scoped", headers=basic("team-a"))
    assert own.status == 200 and (await own.json())["tenant"] == str(A)
    assert (await client.get("/scoped?tenant=a", headers=basic("team-a"))).status == 200
    other = await client.get("/scoped?tenant=b", headers=basic("team-a"))
    assert other.status == 403 and (await other.json())["type"].endswith("other-tenant")
    named = await client.get("/scoped?tenant=b", headers=basic("root"))
    assert named.status == 200 and (await named.json())["tenant"] == str(B)
    unnamed = await client.get("/scoped", headers=basic("root"))
    assert unnamed.status == 400 and "tenant" in (await unnamed.json())["errors"]
    assert (await client.get("/scoped?tenant=zz", headers=basic("root"))).status == 404
    assert (await client.get("/scoped?tenant=a", headers=basic("team-none"))).status == 400


async def test_intake_tokens(client: World) -> None:
    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    ok = await client.post("/intake/a", headers=bearer(TOKEN_A))
    assert ok.status == 200 and (await ok.json())["tenant"] == str(A)
    wrong = await client.post("/intake/a", headers=bearer(TOKEN_B))
    assert wrong.status == 401 and wrong.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await client.post("/intake/a", headers=basic("team-a"))).status == 401
    assert (await client.post("/intake/zz", headers=bearer(TOKEN_A))).status == 401
    client.tokens.down = True
    # Not shaped like a token: refused without asking the database (which is down now).
    assert (await client.post("/intake/a", headers=bearer("lit_short"))).status == 401
    down = await client.post("/intake/a", headers=bearer(TOKEN_A))
    assert down.status == 503 and down.headers["Retry-After"] == "5"
    assert client.audit.entries == []  # gateways are not users: nothing audited


async def test_refusal_audit_every_403_of_a_user_is_audited_with_the_route_template(
    client: World,
) -> None:
    """Issue 13 item 5: each refused request of an authenticated user writes one
    ``access.refused`` entry naming the route's template, never the concrete URL."""
    assert (await client.get("/res/r-b", headers=basic("team-a"))).status == 403  # scope
    assert (await client.get("/res/r-a", headers=basic("ext-a"))).status == 403  # role
    assert (await client.get("/scoped?tenant=b", headers=basic("admin-a"))).status == 403
    assert (await client.post("/own/secret-4012345", headers=basic("team-a"))).status == 403
    assert [(e["actor"], e["details"]["method"], e["details"]["route"], e["details"]["reason"])
            for e in client.audit.entries] == [
        ("user:team-a", "GET", "/res/{rid}", "other-tenant"),
        ("user:ext-a", "GET", "/res/{rid}", "forbidden"),
        ("user:admin-a", "GET", "/scoped", "other-tenant"),
        ("user:team-a", "POST", "/own/{who}", "forbidden"),
    ]  # fmt: skip
    assert all(e["action"] == "access.refused" for e in client.audit.entries)
    assert "4012345" not in repr(client.audit.entries) and "r-b" not in repr(client.audit.entries)
    assert client.audit.entries[0]["tenant_id"] == A


async def test_refusal_audit_anonymous_and_wrong_credentials_are_not_audited(
    client: World,
) -> None:
    for _ in range(20):
        assert (await client.get("/res/r-a")).status == 401
        assert (await client.get("/res/r-a", headers=basic("team-a", "wrong"))).status == 401
    assert (await client.get("/res/r-a", headers=basic("team-a"))).status == 200
    assert client.audit.entries == []


@pytest.mark.parametrize(
    "header",
    [
        None, "", "Basic", "Basic ", "basic", "Basic \udcff", "Basic !!!", "Bearer abc",
        "Basic " + base64.b64encode(b"nocolon").decode(),
        "Basic " + base64.b64encode(b":pw").decode(),
        "Basic " + base64.b64encode(b"login:").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:pw").decode(),
        "Basic " + base64.b64encode(b"a\nb:pw").decode(),
        "Basic " + "QUFB" * 2000,
        "Basic jörg:pw",
    ],
)  # fmt: skip
def test_malformed_basic_credentials_are_none(header: str | None) -> None:
    assert basic_credentials(header) is None


def test_basic_credentials() -> None:
    utf8 = base64.b64encode("jörg:pä:ss".encode()).decode()
    assert basic_credentials(f"Basic {utf8}") == ("jörg", "pä:ss")
    assert basic_credentials(f"basic  {utf8} ") == ("jörg", "pä:ss")


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Bearer tökén",
                                    "Bearer \udcff", "Bearer a\x00b", "Basic abc"])  # fmt: skip
def test_malformed_bearer_tokens_are_none(header: str | None) -> None:
    assert bearer_token(header) is None
    assert bearer_token("Bearer abc-_9") == "abc-_9"
