"""The edge middleware: every kind of error becomes one problem+json body."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ivr.http.edge import new_app, register
from ivr.http.problems import (
    BadInput,
    Clash,
    NotAllowed,
    TooLarge,
    Unauthenticated,
    Unavailable,
    UnsupportedMedia,
)
from storage.errors import (
    Conflict,
    ConstraintViolation,
    Forbidden,
    NotFound,
    Refused,
    SpoolError,
    StorageUnavailable,
)

SECRET_ROW = "Key (login)=(maija.meikalainen) already exists"


class Shelved(Exception):
    """A domain error a module maps itself."""


class ReallyShelved(Shelved):
    pass


class NotYours(Forbidden):
    """Like the repositories' own Forbidden subclasses, written for the client."""


def raises(exc: BaseException) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(_: web.Request) -> web.Response:
        raise exc

    return handler


CASES: dict[str, BaseException] = {
    "unavailable": StorageUnavailable(f"database unreachable: {SECRET_ROW}"),
    "not-found": NotFound("case", "1234"),
    "conflict": Conflict(SECRET_ROW, constraint="uq_users_login"),
    "bad-data": ConstraintViolation(SECRET_ROW, constraint="ck_x"),
    "forbidden": Forbidden(SECRET_ROW),
    "refused": Refused(SECRET_ROW),
    "spool": SpoolError(SECRET_ROW),
    "validation": BadInput("bad fields", errors={"phone": "not a phone number", "foo": "unknown"}),
    "login": Unauthenticated("log in", challenge='Basic realm="linja"'),
    "permission": NotAllowed("admins only"),
    "clash": Clash("already paused"),
    "large": TooLarge("body larger than 10 bytes"),
    "media": UnsupportedMedia("content type must be application/json"),
    "closed": Unavailable("not configured", retry=False),
    "domain": Shelved("the shelf is full"),
    "subdomain": ReallyShelved("really full"),
    "own-forbidden": NotYours("another agent holds the claim"),
    "bug": RuntimeError(f"password=hunter2 {SECRET_ROW}"),
    "aiohttp": web.HTTPConflict(text="aiohttp said no"),
}


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = new_app(client_max_size=64)
    register(app, Shelved, 409, slug="shelved")
    register(app, ReallyShelved, 410)
    register(app, NotYours, 403, slug="not-yours")
    for name, exc in CASES.items():
        app.router.add_get(f"/{name}", raises(exc))

    async def echo(request: web.Request) -> web.Response:
        return web.json_response(await request.json())

    app.router.add_post("/echo", echo)
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield c


async def problem(
    client: TestClient[web.Request, web.Application], path: str, status: int
) -> dict[str, object]:
    r = await client.get(path)
    assert r.status == status, (path, await r.text())
    assert r.content_type == "application/problem+json"
    doc = await r.json()
    assert doc["status"] == status and doc["title"] and str(doc["type"])
    assert SECRET_ROW not in await r.text() and "maija" not in await r.text()
    return dict(doc) | {"_headers": dict(r.headers)}


@pytest.mark.parametrize(
    ("path", "status", "slug"),
    [
        ("/unavailable", 503, "storage-unavailable"),
        ("/not-found", 404, "not-found"),
        ("/conflict", 409, "conflict"),
        ("/bad-data", 400, "validation"),
        ("/forbidden", 403, "forbidden"),
        ("/refused", 503, "storage-unavailable"),
        ("/spool", 503, "storage-unavailable"),
        ("/validation", 400, "validation"),
        ("/login", 401, "unauthenticated"),
        ("/permission", 403, "forbidden"),
        ("/clash", 409, "conflict"),
        ("/large", 413, "too-large"),
        ("/media", 415, "unsupported-media-type"),
        ("/closed", 503, "unavailable"),
        ("/domain", 409, "shelved"),
        ("/subdomain", 410, "reallyshelved"),
        ("/own-forbidden", 403, "not-yours"),
        ("/bug", 500, "internal"),
    ],
)
async def test_each_error_kind_has_its_status_and_type(
    client: TestClient[web.Request, web.Application], path: str, status: int, slug: str
) -> None:
    doc = await problem(client, path, status)
    assert doc["type"] == f"urn:linja:problem:{slug}"


async def test_storage_unavailable_says_retry_and_hides_the_driver_message(
    client: TestClient[web.Request, web.Application],
) -> None:
    doc = await problem(client, "/unavailable", 503)
    assert doc["_headers"]["Retry-After"] == "5"  # type: ignore[index]
    assert "database" in str(doc["detail"]) and "unreachable" not in str(doc["detail"])
    closed = await problem(client, "/closed", 503)
    assert "Retry-After" not in closed["_headers"]  # type: ignore[operator]


async def test_validation_names_every_field_and_other_problems_have_no_errors(
    client: TestClient[web.Request, web.Application],
) -> None:
    doc = await problem(client, "/validation", 400)
    assert doc["errors"] == {"phone": "not a phone number", "foo": "unknown"}
    assert "errors" not in await problem(client, "/clash", 409)


async def test_401_carries_the_challenge_and_domain_messages_are_the_detail(
    client: TestClient[web.Request, web.Application],
) -> None:
    doc = await problem(client, "/login", 401)
    assert doc["_headers"]["WWW-Authenticate"] == 'Basic realm="linja"'  # type: ignore[index]
    assert (await problem(client, "/domain", 409))["detail"] == "the shelf is full"
    assert (await problem(client, "/not-found", 404))["detail"] == "case 1234 not found"
    assert "another agent" in str((await problem(client, "/own-forbidden", 403))["detail"])


async def test_aiohttp_errors_get_the_same_body(
    client: TestClient[web.Request, web.Application],
) -> None:
    assert (await problem(client, "/aiohttp", 409))["detail"] == "aiohttp said no"
    assert "detail" not in await problem(client, "/no-such-route", 404)
    r = await client.post("/validation")
    assert r.status == 405 and r.content_type == "application/problem+json"
    assert "GET" in r.headers["Allow"]
    big = await client.post("/echo", data=b'{"x": "' + b"y" * 100 + b'"}')
    assert big.status == 413 and (await big.json())["status"] == 413
    small = await client.post("/echo", json={"x": 1})
    assert small.status == 200 and await small.json() == {"x": 1}


async def test_unexpected_errors_are_500_logged_with_the_path_and_no_message(
    client: TestClient[web.Request, web.Application], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="ivr.http.edge"):
        doc = await problem(client, "/bug", 500)
    assert "hunter2" not in str(doc) and "RuntimeError" not in str(doc)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "/bug" in logged and "RuntimeError" in logged
    assert "hunter2" not in logged and "maija" not in logged


def test_a_module_cannot_remap_an_error_another_already_maps() -> None:
    app = new_app()
    register(app, Shelved, 409)
    with pytest.raises(ValueError, match="already answers 409"):
        register(app, Shelved, 400)
    with pytest.raises(ValueError):
        register(app, NotFound, 410)  # the storage default stands
    with pytest.raises(RuntimeError, match="new_app"):
        register(web.Application(), Shelved, 409)
