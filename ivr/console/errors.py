"""Errors of page URLs answer as HTML pages, not problem+json.

A middleware (innermost, added by :func:`ivr.console.pages.add_console`) catches, for every
path outside ``/api/``, ``/static/`` and the machine-read ``/metrics``, what the API answers
with a problem body: the guard's refusals (403, audited by the guard as for the API),
unknown URLs (404), bad input, the domain errors registered on the edge's error map, and
renders ``errors/error.html`` with the same status. Nobody logged in: a GET is sent to
``/login?next=<the page>`` (303). Anything unexpected goes on to the edge, which logs it
and answers 500.

The console's own JavaScript marks its API requests with :data:`CONSOLE_HEADER`; a 401 to
those carries the challenge :data:`SESSION_CHALLENGE` instead of Basic, so that a wrong
password or an ended session is shown by the page rather than by the browser's password
dialog (which Basic would open).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web
from aiohttp.typedefs import Middleware

from ivr.console.render import Renderer
from ivr.http.edge import ERRORS
from ivr.http.problems import Problem, Unauthenticated

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
NOT_PAGES = ("/api/", "/static/")
MACHINE_PATHS = frozenset({"/metrics"})  # a scraper's: a 401 challenge, never a login page
CONSOLE_HEADER = "X-Linja-Console"
SESSION_CHALLENGE = 'Session realm="linja"'


def is_page(path: str) -> bool:
    return not (path.startswith(NOT_PAGES) or path in MACHINE_PATHS)


def safe_next(target: str | None) -> str:
    """A local path to go to after logging in (anything else: the home page)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if not target.isprintable() or len(target) > 500:
        return "/"
    return target


def login_url(request: web.Request) -> str:
    return "/login?next=" + quote(safe_next(request.path_qs), safe="/")


def middleware(renderer: Renderer) -> Middleware:
    def page(request: web.Request, status: int, detail: str | None) -> web.Response:
        log.info("%s %r -> %d page", request.method, request.path[:200], status)
        return renderer.render(
            request, None, "errors/error.html", {"status": status, "detail": detail},
            status=status,
        )  # fmt: skip

    @web.middleware
    async def html_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not is_page(request.path):
            if request.headers.get(CONSOLE_HEADER) != "1":
                return await handler(request)
            try:
                return await handler(request)
            except Unauthenticated as exc:
                raise Unauthenticated(exc.detail, challenge=SESSION_CHALLENGE) from None
        try:
            return await handler(request)
        except Unauthenticated:
            if request.method in ("GET", "HEAD"):
                return web.Response(
                    status=303,
                    headers={"Location": login_url(request), "Cache-Control": "no-store"},
                )
            return page(request, 401, None)
        except Problem as p:
            return page(request, p.status, p.detail)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return page(request, exc.status, None)
        except Exception as exc:
            mapped = request.app[ERRORS].find(exc) if ERRORS in request.app else None
            if mapped is None:
                raise
            return page(request, mapped.status, mapped.problem(exc).detail)

    return html_errors
