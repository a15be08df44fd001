"""The management API on in-memory repositories: who may do what, pages, field errors, and
generated malformed bodies (hypothesis) that get 4xx and change nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import basic_auth
from tests.unit.admin.fakes import PASSWORD, World, management_app, populated_world


class Api:
    def __init__(self, client: TestClient, world: World) -> None:
        self.client = client
        self.world = world

    async def call(
        self, method: str, path: str, who: str | None, body: Any = None, raw: bytes | None = None
    ) -> tuple[int, Any]:
        headers = {} if who is None else basic_auth(who, PASSWORD)
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        if data is not None:
            headers["Content-Type"] = "application/json"
        r = await self.client.request(method, path, headers=headers, data=data)
        text = await r.text()
        return r.status, json.loads(text) if text else None


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    world = populated_world()
    (tmp_path / "linja.conf").write_text("[linja-inbound]\n")
    client = TestClient(TestServer(management_app(world, tmp_path)))
    await client.start_server()
    try:
        yield Api(client, world)
    finally:
        await client.close()


# -- who may do what ------------------------------------------------------------------------

ACCESS = [
    # method, path, body, {who: status}
    ("GET", "/api/tenants", None,
     {None: 401, "ops": 200, "acme-admin": 200, "acme-team": 403, "acme-ext": 403}),
    ("GET", "/api/tenants/other", None,
     {"ops": 200, "acme-admin": 403, "other-admin": 200, "acme-team": 403}),
    ("POST", "/api/tenants", {"slug": "new", "name": "New Oy"},
     {"acme-admin": 403, "acme-team": 403}),
    ("PATCH", "/api/tenants/other", {"name": "Renamed"}, {"acme-admin": 403, "acme-ext": 403}),
    ("POST", "/api/numbers", {"number": "500", "tenant": "acme", "service": "taxi"},
     {"acme-admin": 403, "acme-team": 403}),
    ("DELETE", "/api/numbers/400", None, {"acme-admin": 403, "other-admin": 403}),
    ("GET", "/api/users", None, {"acme-team": 403, "acme-ext": 403, "ops": 200}),
    ("GET", "/api/users?tenant=other", None, {"acme-admin": 403, "ops": 200}),
    ("GET", "/api/users/other-admin", None, {"acme-admin": 403, "ops": 200, "acme-team": 403}),
    ("GET", "/api/users/ops", None, {"acme-admin": 403}),
    ("GET", "/api/users/me", None, {None: 401, "acme-ext": 200, "acme-team": 200}),
    ("POST", "/api/users/other-admin/disable", None, {"acme-admin": 403, "acme-team": 403}),
    ("POST", "/api/users/acme-admin/password", {"password": "another-password"},
     {"acme-team": 403, "other-admin": 403}),
    ("POST", "/api/users", {"login": "boss", "name": "B", "role": "operator",
                            "password": "long-enough-pw"}, {"acme-admin": 403}),
    ("POST", "/api/users", {"login": "spy", "name": "S", "role": "admin", "tenant": "other",
                            "password": "long-enough-pw"}, {"acme-admin": 403}),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "expect"), ACCESS)
async def test_who_may_do_what(
    api: Api, method: str, path: str, body: Any, expect: dict[str | None, int]
) -> None:
    for who, status in expect.items():
        before = list(api.world.changes)
        got, doc = await api.call(method, path, who, body)
        assert got == status, (method, path, who, doc)
        if status >= 400:
            assert api.world.changes == before, (method, path, who)
            assert doc["status"] == status


async def test_an_admin_lists_only_their_own_tenant_and_users(api: Api) -> None:
    _, tenants = await api.call("GET", "/api/tenants", "acme-admin")
    assert [t["slug"] for t in tenants["items"]] == ["acme"]
    _, users = await api.call("GET", "/api/users", "acme-admin")
    assert {u["login"] for u in users["items"]} == {"acme-admin", "acme-team", "acme-ext"}
    _, numbers = await api.call("GET", "/api/numbers", "acme-admin")
    assert [n["number"] for n in numbers["items"]] == ["300"]


async def test_an_admin_updates_their_tenant_and_creates_users_in_it(api: Api) -> None:
    status, doc = await api.call(
        "PATCH", "/api/tenants/acme", "acme-admin", {"case_retention": "2y", "language": "en"}
    )
    assert status == 200 and doc["case_retention"] == "2y" and doc["language"] == "en"
    status, doc = await api.call(
        "POST", "/api/users", "acme-admin",
        {"login": "new-agent", "name": "New", "role": "team", "password": "long-enough-pw"},
    )  # fmt: skip
    assert status == 201 and doc["tenant"] == "acme"
    assert ("user.create", "new-agent") in api.world.changes


async def test_pages_follow_the_next_link_to_the_end(api: Api) -> None:
    seen: list[str] = []
    path: str | None = "/api/users?limit=2"
    while path is not None:
        status, doc = await api.call("GET", path, "ops")
        assert status == 200 and len(doc["items"]) <= 2
        seen += [u["login"] for u in doc["items"]]
        path = doc["next"]
    assert seen == sorted(api.world.users)


async def test_a_disabled_user_is_refused_at_once(api: Api) -> None:
    assert (await api.call("GET", "/api/users/me", "acme-team"))[0] == 200
    assert (await api.call("POST", "/api/users/acme-team/disable", "acme-admin"))[0] == 200
    assert (await api.call("GET", "/api/users/me", "acme-team"))[0] == 401
    assert (await api.call("POST", "/api/users/acme-team/enable", "acme-admin"))[0] == 200
    assert (await api.call("GET", "/api/users/me", "acme-team"))[0] == 200


async def test_no_one_disables_themselves(api: Api) -> None:
    status, doc = await api.call("POST", "/api/users/acme-admin/disable", "acme-admin")
    assert status == 400 and "login" in doc["errors"]


async def test_a_user_changes_their_own_password(api: Api) -> None:
    status, _ = await api.call(
        "POST", "/api/users/acme-team/password", "acme-team", {"password": "brand-new-password"}
    )
    assert status == 200 and api.world.passwords["acme-team"] == "brand-new-password"


async def test_a_new_number_carries_the_routing_warning(api: Api) -> None:
    status, doc = await api.call(
        "POST", "/api/numbers", "ops", {"number": "555", "tenant": "acme", "service": "bulletin"}
    )
    assert status == 201 and doc["tenant"] == "acme"
    (warning,) = doc["warnings"]
    assert "does not route 555" in warning


async def test_every_bad_field_and_unknown_field_is_named(api: Api) -> None:
    status, doc = await api.call(
        "POST", "/api/tenants", "ops",
        {"slug": "Bad!", "language": "de", "time_zone": "X/Y", "recording_retention": "99m",
         "extra": 1},
    )  # fmt: skip
    assert status == 400 and doc["type"] == "urn:linja:problem:validation"
    assert set(doc["errors"]) == {"slug", "name", "language", "time_zone",
                                  "recording_retention", "extra"}  # fmt: skip


async def test_a_slug_or_login_in_use_is_409_naming_it(api: Api) -> None:
    status, doc = await api.call("POST", "/api/tenants", "ops", {"slug": "acme", "name": "A"})
    assert status == 409 and set(doc["errors"]) == {"slug"}
    status, doc = await api.call(
        "POST", "/api/users", "ops",
        {"login": "ops", "name": "O", "role": "operator", "password": "long-enough-pw"},
    )  # fmt: skip
    assert status == 409 and set(doc["errors"]) == {"login"}


async def test_list_parameters_are_checked(api: Api) -> None:
    for query in ("limit=0", "limit=abc", "limit=201", "colour=red", "after=%00"):
        status, doc = await api.call("GET", f"/api/users?{query}", "ops")
        assert status == 400 and doc["errors"], query


# -- generated malformed bodies -----------------------------------------------------------

ENDPOINTS = [
    ("POST", "/api/tenants"),
    ("PATCH", "/api/tenants/acme"),
    ("POST", "/api/numbers"),
    ("POST", "/api/users"),
    ("PATCH", "/api/users/acme-team"),
    ("POST", "/api/users/acme-team/password"),
    ("POST", "/api/users/acme-team/phone-login"),
]
SCALAR = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=20),
    st.sampled_from(["", "90d", "0d", "operator", "acme", "Europe/Nowhere", "\u0000", "1" * 50]),
)  # fmt: skip
BODY = st.one_of(
    st.dictionaries(
        st.sampled_from(["slug", "name", "language", "time_zone", "case_retention", "number",
                         "tenant", "service", "login", "role", "password", "email", "pin",
                         "phone_login", "bogus", "id"]),
        SCALAR, max_size=5,
    ).map(lambda d: d | {"bogus": d.get("bogus", 0)}),  # always one unknown field at least
    st.lists(SCALAR, max_size=3),
    SCALAR,
)  # fmt: skip
RAW = st.one_of(st.binary(max_size=40), st.just(b"{"), st.just(b"\xff\xfe"), st.just(b"[]"))


@pytest.fixture
def loop_api(tmp_path: Path) -> Iterator[tuple[asyncio.AbstractEventLoop, Api]]:
    loop = asyncio.new_event_loop()
    world = populated_world()
    client = TestClient(TestServer(management_app(world, tmp_path)), loop=loop)
    loop.run_until_complete(client.start_server())
    try:
        yield loop, Api(client, world)
    finally:
        loop.run_until_complete(client.close())
        loop.close()


@settings(
    max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(endpoint=st.sampled_from(ENDPOINTS), body=BODY, raw=st.none() | RAW,
       who=st.sampled_from(["ops", "acme-admin"]))  # fmt: skip
def test_generated_malformed_bodies_are_4xx_and_change_nothing(
    loop_api: tuple[asyncio.AbstractEventLoop, Api],
    endpoint: tuple[str, str],
    body: Any,
    raw: bytes | None,
    who: str,
) -> None:
    loop, api = loop_api
    before = list(api.world.changes)
    method, path = endpoint
    status, doc = loop.run_until_complete(api.call(method, path, who, body, raw))
    assert 400 <= status < 500, (endpoint, body, raw, doc)
    assert doc["status"] == status
    if status == 400:
        assert doc["errors"], doc
    assert api.world.changes == before
