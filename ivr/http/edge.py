"""The HTTP edge: one middleware turns every error into one problem+json body.

What it maps (most specific class first, by the exception's MRO):

- :class:`ivr.http.problems.Problem`: as it says (status, detail, field errors, headers);
- storage errors (:mod:`storage.errors`): unavailable 503 with ``Retry-After``, not found
  404, conflict 409, bad data 400, not allowed 403, anything else the storage layer raised
  503. Their messages may carry row contents, so the body says only what kind of failure;
- the domain errors a module registered with :func:`register` (e.g. ``IllegalTransition``
  -> 409), whose messages are written for the client;
- aiohttp's own ``HTTPException`` errors (unknown route 404, wrong method 405, body over
  ``client_max_size`` 413, ...), rendered in the same body with their headers;
- anything else: 500 with no internals. It is logged with the method, path and the
  traceback's frames, never the exception's message (which may hold a row or a secret).

Handlers never catch storage errors themselves. Build every API application with
:func:`new_app` so the middleware and the error map are there, and behind it the browser
checks of :mod:`ivr.http.browser` (Host, Origin, JSON bodies).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from ivr.http import browser
from ivr.http.problems import BLANK, RETRY_AFTER_S, Problem, problem_type, render
from storage.errors import (
    Conflict,
    ConstraintViolation,
    Forbidden,
    NotFound,
    StorageError,
    StorageUnavailable,
)

log = logging.getLogger(__name__)

E = TypeVar("E", bound=BaseException)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Answer:
    """How one domain error class answers."""

    status: int
    slug: str
    detail: str | None  # None: the exception's message is the detail
    fields: Callable[[Any], Mapping[str, str]] | None = None
    retry: bool = False

    def problem(self, exc: BaseException) -> Problem:
        headers = {"Retry-After": str(RETRY_AFTER_S)} if self.retry else None
        return Problem(
            self.detail if self.detail is not None else str(exc),
            status=self.status,
            slug=self.slug,
            errors=None if self.fields is None else self.fields(exc),
            headers=headers,
        )


class ErrorMap:
    """Domain exception class -> the problem it answers; lookups follow the MRO."""

    def __init__(self) -> None:
        self._by_type: dict[type[BaseException], Answer] = {}

    def add(
        self,
        kind: type[E],
        status: int,
        *,
        slug: str | None = None,
        detail: str | None = None,
        fields: Callable[[E], Mapping[str, str]] | None = None,
        retry: bool = False,
    ) -> None:
        mapping = Answer(
            status, slug or kind.__name__.lower(), detail, fields, retry or status == 503
        )
        if self._by_type.setdefault(kind, mapping) != mapping:
            raise ValueError(f"{kind.__name__} already answers {self._by_type[kind].status}")

    def find(self, exc: BaseException) -> Answer | None:
        for cls in type(exc).__mro__:
            found = self._by_type.get(cls)
            if found is not None:
                return found
        return None

    @classmethod
    def defaults(cls) -> ErrorMap:
        m = cls()
        m.add(StorageError, 503, slug="storage-unavailable", detail="storage failed; retry later")
        m.add(
            StorageUnavailable,
            503,
            slug="storage-unavailable",
            detail="the database is unavailable; retry later",
        )
        m.add(NotFound, 404, slug="not-found")
        m.add(ConstraintViolation, 400, slug="validation", detail="the database refused the data")
        m.add(Conflict, 409, slug="conflict", detail="conflicts with what is already stored")
        m.add(Forbidden, 403, slug="forbidden", detail="not allowed")
        return m


ERRORS = web.AppKey("linja.http.errors", ErrorMap)


def register(
    app: web.Application,
    kind: type[E],
    status: int,
    *,
    slug: str | None = None,
    detail: str | None = None,
    fields: Callable[[E], Mapping[str, str]] | None = None,
) -> None:
    """Declare how a module's domain error answers (on an app made by :func:`new_app`)."""
    if ERRORS not in app:
        raise RuntimeError("build the application with ivr.http.edge.new_app()")
    app[ERRORS].add(kind, status, slug=slug, detail=detail, fields=fields)


def _from_http(exc: web.HTTPException) -> web.Response:
    default = f"{exc.status}: {exc.reason}"
    text = exc.text if exc.text and exc.text != default else None
    headers = {k: v for k, v in exc.headers.items() if k.lower() not in _ENTITY_HEADERS}
    return render(exc.status, text, type_=BLANK, headers=headers)


_ENTITY_HEADERS = frozenset({"content-type", "content-length", "content-encoding"})


def _where(request: web.Request) -> str:
    return f"{request.method} {request.path[:200]!r}"


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Problem as p:
        if p.status >= 500:
            log.warning("%s -> %d %s", _where(request), p.status, p.slug)
        return p.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _from_http(exc)
    except ConnectionResetError:
        raise  # the client went away: nothing to answer
    except Exception as exc:
        mapped = request.app[ERRORS].find(exc) if ERRORS in request.app else None
        if mapped is None:
            frames = "".join(traceback.format_tb(exc.__traceback__))
            log.error("%s -> 500: unexpected %s\n%s", _where(request), type(exc).__name__, frames)
            return render(500, "internal error; it has been logged", type_=problem_type("internal"))
        level = logging.WARNING if mapped.status >= 500 else logging.INFO
        log.log(level, "%s -> %d (%s)", _where(request), mapped.status, type(exc).__name__)
        return mapped.problem(exc).response()


def new_app(**kwargs: Any) -> web.Application:
    """An aiohttp application behind the edge (``kwargs`` go to ``web.Application``)."""
    middlewares = [problems, *browser.MIDDLEWARES, *kwargs.pop("middlewares", ())]
    app = web.Application(middlewares=middlewares, **kwargs)
    app[ERRORS] = ErrorMap.defaults()
    return app
