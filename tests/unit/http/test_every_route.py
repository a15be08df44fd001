"""Every route of the whole HTTP app, looped over from its router (not a hand-kept list).

With Postgres down (an engine on a port where nothing listens), valid-looking credentials get
503 with a problem+json body; malformed ``Authorization`` headers get 400/401 problem bodies.
Requests go over a raw socket so that bytes aiohttp's client would never send (``\\xff``)
reach the server as a gateway could send them.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import string
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ivr.console.errors import is_page
from tests.unit.http.whole_app import SAMPLE_VALUES, build_whole_app

# Routes that never touch Postgres; each must still answer without a 500.
EXEMPT = {
    "/api/health": "health: ARI connection and call count, no database",
    "/api/bulletins": "bulletins in force from the in-memory cache",
    "/api/stats": "ARI event counters kept in memory",
}


def _b64(raw: bytes) -> bytes:
    return base64.b64encode(raw)


MALFORMED: dict[str, bytes] = {
    "basic raw 0xff": b"Basic \xff",
    "basic latin-1 text": "Basic jörg:pw".encode("latin-1"),
    "basic not base64": b"Basic !!!not-base64!!!",
    "basic no colon": b"Basic " + _b64(b"nocolon"),
    "basic empty login": b"Basic " + _b64(b":password"),
    "basic not utf-8": b"Basic " + _b64(b"\xff\xfe:pw"),
    "basic control chars": b"Basic " + _b64(b"a\x00b:pw"),
    "basic scheme only": b"Basic",
    "basic huge": b"Basic " + b"QUFB" * 2000,  # 8006 bytes: under aiohttp's 8190 limit
    "bearer non-ascii": "Bearer tökén".encode(),
    "bearer raw 0xff": b"Bearer \xff\xfe",
    "bearer empty": b"Bearer ",
    "empty": b"",
    "unknown scheme": b"Digest username=x",
    "bearer personal prefix only": b"Bearer lpat_",
    "bearer personal too short": b"Bearer lpat_abc",
    "bearer personal bad chars": b"Bearer lpat_" + b"!" * 43,
    "bearer personal huge": b"Bearer lpat_" + b"A" * 4000,
    "bearer personal 0xff": b"Bearer lpat_\xff" + b"A" * 42,
}

# Session cookies no controller could have set (each is the whole Cookie header).
MALFORMED_COOKIES: dict[str, bytes] = {
    "empty value": b"linja_session=",
    "too short": b"linja_session=abc",
    "bad chars": b"linja_session=" + b"%" * 43,
    "raw 0xff": b"linja_session=\xff\xfe" + b"A" * 41,
    "huge": b"linja_session=" + b"A" * 6000,
    "quoted": b'linja_session="' + b"A b" * 15 + b'"',
    "no equals": b"linja_session",
    "garbage": b";;==;linja_session;=;",
    "latin-1": "linja_session=jörg".encode("latin-1"),
    "twice": b"linja_session=a; linja_session=b",
}
# Routes that take the credentials in their body (a login), not in a header.
LOGIN_ROUTES = {"/api/login": b'{"login": "agent1", "password": "a-plausible-password"}'}
PLAUSIBLE_TOKEN = b"Bearer lpat_" + b"A" * 43
PLAUSIBLE_COOKIE = b"linja_session=" + b"B" * 43


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def problem(self) -> dict[str, object]:
        assert self.headers.get("content-type", "").startswith("application/problem+json"), (
            self.status,
            self.headers,
            self.body[:200],
        )
        doc = json.loads(self.body)
        assert isinstance(doc, dict)
        assert doc["status"] == self.status and doc["title"] and doc["type"], doc
        return doc


async def raw_request(
    port: int,
    method: str,
    path: str,
    auth: bytes | None,
    *,
    cookie: bytes | None = None,
    body: bytes = b"{}",
) -> Reply:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n".encode()
        if auth is not None:
            head += b"Authorization: " + auth + b"\r\n"
        if cookie is not None:
            head += b"Cookie: " + cookie + b"\r\n"
        if method not in ("GET", "HEAD"):
            head += b"Content-Type: application/json\r\n"
            head += f"Content-Length: {len(body)}\r\n\r\n".encode() + body
        else:
            head += b"\r\n"
        writer.write(head)
        raw = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    top, _, body = raw.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Reply(int(lines[0].split()[1]), headers, body)


def _sample_path(resource: web.AbstractResource) -> str:
    info = resource.get_info()
    if "path" in info:
        return str(info["path"])
    formatter, pattern = str(info["formatter"]), info["pattern"]
    names = [f for _, f, _, _ in string.Formatter().parse(formatter) if f]
    for values in itertools.product(*(SAMPLE_VALUES[n] for n in names)):
        path = formatter.format(**dict(zip(names, values, strict=True)))
        if re.fullmatch(pattern, path):
            return path
    raise AssertionError(f"no plausible match_info for {formatter} (add to SAMPLE_VALUES)")


@dataclass
class Api:
    app: web.Application
    port: int

    def routes(self) -> list[tuple[str, str]]:
        """The JSON API's routes (the console's pages: :meth:`pages`)."""
        return [(m, p) for m, p in self.all_routes() if p.startswith("/api/")]

    def pages(self) -> list[tuple[str, str]]:
        """The console's pages (not the API, its static files or the metrics scrape)."""
        return [(m, p) for m, p in self.all_routes() if is_page(p)]

    def all_routes(self) -> list[tuple[str, str]]:
        return sorted(
            {
                (r.method, _sample_path(r.resource))
                for r in self.app.router.routes()
                if r.resource is not None
            },
            key=lambda mp: (mp[1], mp[0]),
        )


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with AsyncExitStack() as stack:
        app = await build_whole_app(tmp_path, stack)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        stack.push_async_callback(server.close)
        assert server.port is not None
        yield Api(app, server.port)


def _credentials(challenge: str, path: str) -> bytes:
    scheme = challenge.split()[0].lower()
    if scheme == "bearer":
        return b"Bearer lit_" + b"A" * 43  # plausible: checked against Postgres (down)
    assert scheme == "basic", challenge
    return b"Basic " + _b64(b"agent1:a-plausible-password")


async def test_the_router_has_every_module_and_the_exemptions_are_real(api: Api) -> None:
    paths = {p for _, p in api.routes()}
    assert set(EXEMPT) <= paths  # no stale exemption
    for prefix in ("/api/agents", "/api/intake/", "/api/requests", "/api/recordings/",
                   "/api/calls/", "/api/subjects/", "/api/cases/", "/api/audio/",
                   "/api/tenants", "/api/numbers", "/api/users"):  # fmt: skip
        assert any(p.startswith(prefix) for p in paths), prefix
    assert len(api.routes()) > 20


def _is_503_problem(reply: Reply, method: str, path: str) -> None:
    assert reply.status == 503, (method, path, reply.status, reply.body[:300])
    assert reply.headers.get("retry-after") == "5", (method, path)
    if method == "HEAD":
        assert reply.headers["content-type"].startswith("application/problem+json")
    else:
        doc = reply.problem()
        assert "database" in str(doc["detail"]), (path, doc)


async def test_postgres_down_is_503_problem_on_every_route(api: Api) -> None:
    checked = 0
    for method, path in api.routes():
        if path in EXEMPT:
            reply = await raw_request(api.port, method, path, None)
            assert reply.status != 500, (method, path, reply.body[:200])
            continue
        if path in LOGIN_ROUTES:
            empty = await raw_request(api.port, method, path, None)
            assert empty.status == 400 and "login" in str(empty.problem()["errors"]), empty
            reply = await raw_request(api.port, method, path, None, body=LOGIN_ROUTES[path])
            _is_503_problem(reply, method, path)
            continue
        anonymous = await raw_request(api.port, method, path, None)
        assert anonymous.status == 401, (method, path, anonymous.status, anonymous.body[:200])
        challenge = anonymous.headers["www-authenticate"]
        reply = await raw_request(api.port, method, path, _credentials(challenge, path))
        _is_503_problem(reply, method, path)
        if challenge.startswith("Basic"):  # a user's route: the other two ways in
            token = await raw_request(api.port, method, path, PLAUSIBLE_TOKEN)
            _is_503_problem(token, method, path)
            session = await raw_request(api.port, method, path, None, cookie=PLAUSIBLE_COOKIE)
            _is_503_problem(session, method, path)
        checked += 1
    assert checked > 15


async def test_malformed_session_cookies_are_400_or_401_problem_on_every_route(
    api: Api,
) -> None:
    for (method, path), (what, cookie) in itertools.product(
        api.routes(), MALFORMED_COOKIES.items()
    ):
        reply = await raw_request(api.port, method, path, None, cookie=cookie)
        if path in EXEMPT:
            assert reply.status != 500, (method, path, what)
            continue
        assert reply.status in (400, 401), (method, path, what, reply.status, reply.body[:200])
        if method != "HEAD":
            reply.problem()


async def test_malformed_authorization_is_400_or_401_problem_on_every_route(api: Api) -> None:
    for (method, path), (what, header) in itertools.product(api.routes(), MALFORMED.items()):
        reply = await raw_request(api.port, method, path, header)
        if path in EXEMPT:
            assert reply.status != 500, (method, path, what)
            continue
        assert reply.status in (400, 401), (method, path, what, reply.status, reply.body[:200])
        if reply.status == 401:
            assert reply.headers["www-authenticate"].split()[0] in ("Basic", "Bearer")
        if method != "HEAD":
            reply.problem()


# Console pages anyone may open (the rest send a browser to the login page).
PUBLIC_PAGES = {"/login", "/static/console.css", "/language/en"}


async def test_console_pages_answer_html_with_postgres_down_never_a_500(api: Api) -> None:
    """A page is never problem+json: nobody logged in is sent to the login page (303), a
    user whose database cannot be asked gets an HTML 503, a malformed header an HTML 400."""
    pages = api.pages()
    assert ("GET", "/login") in pages and len(pages) >= 3
    basic = b"Basic " + _b64(b"agent1:a-plausible-password")
    for method, path in pages:
        anonymous = await raw_request(api.port, method, path, None)
        if path in PUBLIC_PAGES:
            assert anonymous.status in (200, 303), (method, path, anonymous.status)
            continue
        assert anonymous.status == 303, (method, path, anonymous.status, anonymous.body[:200])
        assert anonymous.headers["location"].startswith("/login?next=")
        for auth in (basic, PLAUSIBLE_TOKEN, None):
            cookie = PLAUSIBLE_COOKIE if auth is None else None
            reply = await raw_request(api.port, method, path, auth, cookie=cookie)
            assert reply.status == 503, (method, path, auth, reply.status, reply.body[:200])
            assert reply.headers["content-type"].startswith("text/html"), (method, path)
        for what, header in MALFORMED.items():
            reply = await raw_request(api.port, method, path, header)
            assert reply.status in (303, 400), (method, path, what, reply.status)
            assert not reply.headers.get("content-type", "").startswith("application/problem")
