"""What keeps a browser from being turned against the API: three middlewares of the edge.

- :func:`known_host`: the ``Host`` header must name this service (:class:`HostPolicy`: the
  loopback names and addresses with any port, the bind address with the HTTP port, and the
  names in ``LINJA_HTTP_HOSTS``), else 421. A page on another name whose DNS was pointed
  at 127.0.0.1 (DNS rebinding) is refused before any handler runs.
- :func:`same_origin`: a state-changing request (POST, PUT, PATCH, DELETE) that carries the
  session cookie, and every login or logout, must not come from another site: an ``Origin``
  other than this scheme and host, or ``Sec-Fetch-Site`` other than ``same-origin`` or
  ``none``, is a 403. A request with neither header (curl, a gateway) is not a browser's.
- :func:`json_bodies`: a request body on the JSON API must be ``application/json`` (415
  otherwise); the intake webhooks (``/api/intake/``) check their own types.

The CSRF token itself is checked by the guard, which knows that the cookie authenticated the
request (:mod:`ivr.http.sessions`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiohttp import web

from ivr.http.problems import NotAllowed, Problem, UnsupportedMedia
from ivr.http.sessions import SAFE_METHODS, SESSION_COOKIE

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LOOPBACK = ("localhost", "127.0.0.1", "[::1]")
LOGIN_PATHS = frozenset({"/api/login", "/api/logout"})
INTAKE_PREFIX = "/api/intake/"
JSON = "application/json"


class MisdirectedHost(Problem):
    status, slug = 421, "unknown-host"


class CrossSite(NotAllowed):
    slug = "cross-site"


def _split(host: str) -> tuple[str, str | None]:
    """(name, port or None) of a Host value, the name lower-case without a trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host.partition("]")
        name += "]"
        port = rest[1:] if rest.startswith(":") else None
    else:
        name, colon, port_text = host.partition(":")
        port = port_text if colon else None
    return name.rstrip("."), port


@dataclass(frozen=True)
class HostPolicy:
    """Host names answered with any port, and (name, port) pairs answered only so."""

    any_port: frozenset[str]
    exact: frozenset[tuple[str, str]]

    @classmethod
    def of(cls, bind: str, port: int, extra: Iterable[str] = ()) -> HostPolicy:
        any_port, exact = set(LOOPBACK), set()
        if bind not in ("0.0.0.0", "::", ""):
            exact.add((_split(f"[{bind}]" if ":" in bind else bind)[0], str(port)))
        for entry in extra:
            if not entry.strip():
                continue
            name, given = _split(entry)
            if given is None:
                any_port.add(name)
            else:
                exact.add((name, given))
        return cls(frozenset(any_port), frozenset(exact))

    @classmethod
    def loopback(cls) -> HostPolicy:
        return cls(frozenset(LOOPBACK), frozenset())

    def allows(self, host: str | None) -> bool:
        if not host or len(host) > 260 or not host.isascii():
            return False
        name, port = _split(host)
        if port is not None and not (port.isascii() and port.isdigit()):
            return False
        return name in self.any_port or (port is not None and (name, port) in self.exact)


HOSTS = web.AppKey("linja.http.hosts", HostPolicy)


@web.middleware
async def known_host(request: web.Request, handler: Handler) -> web.StreamResponse:
    policy = request.app.get(HOSTS) or HostPolicy.loopback()
    host = request.headers.get("Host")
    if not policy.allows(host):
        log.info("%s %r refused: unknown Host %r", request.method, request.path[:200], host)
        raise MisdirectedHost("this service does not answer for that host name")
    return await handler(request)


def _cross_site(request: web.Request) -> str | None:
    """Why the request comes from another site, or None."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site.strip().lower() not in ("same-origin", "none"):
        return f"Sec-Fetch-Site {site[:20]!r}"
    origin = request.headers.get("Origin")
    if origin is not None:
        mine = f"{request.scheme}://{request.headers.get('Host', '')}".lower()
        if origin.strip().lower() != mine:
            return "Origin of another site"
    return None


@web.middleware
async def same_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method not in SAFE_METHODS and (
        request.path in LOGIN_PATHS or SESSION_COOKIE in request.cookies
    ):
        why = _cross_site(request)
        if why is not None:
            log.info("%s %r refused: %s", request.method, request.path[:200], why)
            raise CrossSite("cross-site requests may not change anything")
    return await handler(request)


@web.middleware
async def json_bodies(request: web.Request, handler: Handler) -> web.StreamResponse:
    if (
        request.body_exists
        and request.path.startswith("/api/")
        and not request.path.startswith(INTAKE_PREFIX)
        and request.content_type != JSON
    ):
        raise UnsupportedMedia(f"the body must be {JSON}")
    return await handler(request)


MIDDLEWARES = (known_host, same_origin, json_bodies)
