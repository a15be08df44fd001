"""The browser checks of the edge (Host allow-list, Origin / Sec-Fetch-Site, JSON bodies),
the session cookie's flags, the CSRF comparison and the identity's refusals (backoff 429,
a full argon2 pool 503, failed logins audited alike), on fakes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ivr.http.backoff import Backoff
from ivr.http.browser import HOSTS, HostPolicy
from ivr.http.edge import new_app
from ivr.http.problems import Problem
from ivr.http.sessions import (
    SESSION_COOKIE,
    Identity,
    SessionPolicy,
    csrf_matches,
    csrf_token,
    set_session_cookie,
)
from storage.credentials import PasswordCheck, VerifiedCache
from storage.domain import Actor, UserInfo
from storage.events import Role
from storage.passwords import Hasher, PoolFull

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = new_app()
    app[HOSTS] = HostPolicy.of("127.0.0.1", 8080, ["linja.example.fi", "console.example:8443"])

    async def ok(_: web.Request) -> web.StreamResponse:
        return web.json_response({"ok": True})

    for path in ("/api/thing", "/api/login", "/api/intake/demo/web", "/"):
        app.router.add_post(path, ok)
        app.router.add_get(path, ok)
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield c


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1:8080", True), ("127.0.0.1:55555", True), ("localhost:8080", True),
        ("LOCALHOST.", True), ("[::1]:8080", True), ("linja.example.fi", True),
        ("linja.example.fi:443", True), ("console.example:8443", True),
        ("console.example", False), ("console.example:80", False),
        ("evil.example:8080", False), ("127.0.0.1.evil.example", False),
        ("localhost:abc", False), ("", False), ("xn--jrg-sna.example", False),
    ],
)  # fmt: skip
async def test_the_host_allow_list_refuses_other_names_with_421(
    client: TestClient[web.Request, web.Application], host: str, allowed: bool
) -> None:
    r = await client.get("/api/thing", headers={"Host": host})
    if allowed:
        assert r.status == 200, host
    else:
        assert r.status == 421 and r.content_type == "application/problem+json", host
        assert (await r.json())["type"].endswith(":unknown-host")


def test_the_default_host_policy_is_loopback_and_the_bind_address() -> None:
    policy = HostPolicy.of("10.0.0.5", 8080)
    assert policy.allows("10.0.0.5:8080") and policy.allows("localhost:1")
    assert not policy.allows("10.0.0.5:8081") and not policy.allows("10.0.0.5")
    assert HostPolicy.of("0.0.0.0", 8080).exact == frozenset()
    assert not HostPolicy.loopback().allows("evil.example")


COOKIE = {"Cookie": f"{SESSION_COOKIE}={'A' * 43}"}


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 200),
        ({"Origin": "http://{host}"}, 200),
        ({"Origin": "http://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Origin": "https://{host}"}, 403),  # another scheme is another origin
        ({"Sec-Fetch-Site": "same-origin"}, 200),
        ({"Sec-Fetch-Site": "none"}, 200),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Sec-Fetch-Site": "same-site"}, 403),
    ],
)
async def test_cross_site_changes_with_the_session_cookie_are_403(
    client: TestClient[web.Request, web.Application], headers: dict[str, str], status: int
) -> None:
    host = f"127.0.0.1:{client.port}"
    filled = {k: v.format(host=host) for k, v in headers.items()}
    r = await client.post("/api/thing", headers={**COOKIE, **filled})
    assert r.status == status, filled
    if status == 403:
        assert (await r.json())["type"].endswith(":cross-site")
    login = await client.post("/api/login", headers=filled, json={})  # a login, cookie or not
    assert login.status == status
    no_cookie = await client.post("/api/thing", headers=filled)  # curl, a gateway: no session
    assert no_cookie.status == 200
    read = await client.get("/api/thing", headers={**COOKIE, **filled})
    assert read.status == 200


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/json", 200),
        ("application/json; charset=utf-8", 200),
        ("text/plain", 415),
        ("application/x-www-form-urlencoded", 415),
        ("multipart/form-data; boundary=x", 415),
        (None, 415),
    ],
)
async def test_json_api_bodies_need_the_json_content_type(
    client: TestClient[web.Request, web.Application], content_type: str | None, status: int
) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    r = await client.post("/api/thing", data=b'{"a": 1}', headers=headers)
    assert r.status == status, content_type
    if status == 415:
        assert (await r.json())["type"].endswith(":unsupported-media-type")
    assert (await client.post("/api/thing")).status == 200  # no body: nothing to check
    webhook = await client.post("/api/intake/demo/web", data=b"a=1", headers=headers)
    assert webhook.status == 200  # the intake webhooks check their own types
    page = await client.post("/", data=b"a=1", headers=headers)
    assert page.status == 200  # not the JSON API


@pytest.mark.parametrize("secure", [False, True])
def test_the_session_cookie_is_httponly_strict_and_secure_over_tls(secure: bool) -> None:
    response = web.Response()
    set_session_cookie(response, "tok", secure=secure, max_age=timedelta(hours=12))
    header = response.cookies[SESSION_COOKIE].output(header="").strip()
    parts = {p.strip().split("=")[0].lower() for p in header.split(";")}
    assert header.startswith(f"{SESSION_COOKIE}=tok")
    assert {"httponly", "path", "samesite", "max-age"} <= parts
    assert "SameSite=Strict" in header and "Path=/" in header and "Max-Age=43200" in header
    assert ("secure" in parts) is secure


def test_the_csrf_token_belongs_to_its_session_and_is_compared_whole() -> None:
    a, b = "A" * 43, "B" * 43
    assert csrf_matches(a, csrf_token(a))
    assert not csrf_matches(a, csrf_token(b))
    assert not csrf_matches(a, csrf_token(a)[:-1])
    assert not csrf_matches(a, None) and not csrf_matches(a, "")
    assert not csrf_matches(a, "ä" * 64) and not csrf_matches(a, "0" * 10_000)
    assert csrf_token(a) not in a and a not in csrf_token(a)


# ----- the identity's refusals -------------------------------------------------------------


def _user(login: str) -> UserInfo:
    return UserInfo(
        id=uuid.uuid5(uuid.NAMESPACE_DNS, login), tenant_id=uuid.UUID(int=1), name=login,
        login=login, email=None, role=Role.TEAM, phone_number=None, phone_login=None,
        has_phone_pin=False, created_at=T0, disabled_at=None,
    )  # fmt: skip


class Audit:
    def __init__(self) -> None:
        self.entries: list[tuple[str, Actor, dict[str, Any]]] = []

    async def append(self, action: str, actor: Actor, **kw: Any) -> None:
        self.entries.append((action, actor, kw))


class Seconds:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Full:
    async def __call__(self, job: object) -> object:
        raise PoolFull("busy")


async def _identity(full: bool = False) -> tuple[Identity, Audit, Seconds]:
    hasher = Hasher.fast_for_tests()
    stored = await hasher.hash("oikea")
    users = {"tiina": (_user("tiina"), stored)}

    async def lookup(login: str) -> tuple[UserInfo, str] | None:
        return users.get(login)

    runner = hasher.running(Full()) if full else hasher
    check = PasswordCheck(lookup, runner, VerifiedCache(lambda: T0, ttl=timedelta(0)))
    audit, clock = Audit(), Seconds()
    identity = Identity(
        check, None, None, audit, lambda: T0,  # type: ignore[arg-type]
        SessionPolicy(timedelta(minutes=30), timedelta(hours=12)),
        by_login=Backoff(base=5, cap=60, free=1, clock=clock),
        by_address=Backoff(base=5, cap=60, free=3, clock=clock),
    )  # fmt: skip
    return identity, audit, clock


async def test_failed_logins_back_off_per_login_then_per_address() -> None:
    identity, audit, clock = await _identity()
    assert await identity.password("tiina", "x", "10.0.0.1", via="basic") is None
    assert await identity.password("tiina", "x", "10.0.0.2", via="basic") is None
    with pytest.raises(Problem) as refused:  # the login waits 5 s, from any address
        await identity.password("tiina", "oikea", "10.0.0.3", via="basic")
    assert refused.value.status == 429 and refused.value.headers["Retry-After"] == "5"
    clock.now += 5
    assert await identity.password("tiina", "oikea", "10.0.0.3", via="basic") == _user("tiina")
    for login in ("a", "b", "c", "d"):  # spraying logins from one address
        assert await identity.password(login, "x", "10.0.0.9", via="basic") is None
    with pytest.raises(Problem) as sprayed:
        await identity.password("e", "x", "10.0.0.9", via="basic")
    assert sprayed.value.status == 429
    assert await identity.password("f", "x", "10.0.0.8", via="basic") is None  # others go on
    assert [a for a, _, _ in audit.entries] == ["login.failed"] * 7  # refusals run no check


async def test_failed_logins_are_audited_alike_for_unknown_and_known_logins() -> None:
    identity, audit, _ = await _identity()
    await identity.password("tiina", "salainen-1", "::1", via="login")
    await identity.password("nobody", "salainen-2", "::1", via="login")
    (_, known_actor, known), (_, unknown_actor, unknown) = audit.entries
    assert known_actor == unknown_actor == Actor.system("http")
    assert known.keys() == unknown.keys() == {"details"}
    assert known["details"] == {"login": "tiina", "via": "login"}
    assert unknown["details"] == {"login": "nobody", "via": "login"}
    assert "salainen" not in repr(audit.entries)


async def test_a_full_password_pool_answers_503_with_retry_after() -> None:
    identity, audit, _ = await _identity(full=True)
    with pytest.raises(Problem) as busy:
        await identity.password("tiina", "oikea", "::1", via="basic")
    assert busy.value.status == 503 and busy.value.headers["Retry-After"] == "1"
    assert audit.entries == []  # not a failed login
