"""Rendering a page: the Jinja2 environment (aiohttp-jinja2) and what every page's template
gets besides its own context: ``t`` (the catalogue in the page's language), ``lang``,
``langs``, ``nav`` (the entries the user's role may see), ``who`` (the principal or None),
``csrf`` (the session's CSRF token, for the forms' JavaScript), ``path`` and ``static``.

Pages are never cached and carry a strict Content-Security-Policy: scripts only from
``/static/`` (no inline script), nothing framed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from ivr.console.catalogue import LANGUAGES, Catalogue
from ivr.console.language import language
from ivr.console.nav import NavItem, visible
from ivr.console.static import Static
from ivr.http.guard import AUTH_VIA, Principal
from ivr.http.sessions import SESSION_COOKIE, csrf_token

TEMPLATES = Path(__file__).parent / "templates"
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; media-src 'self' blob:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def setup(app: web.Application, templates: Path = TEMPLATES) -> None:
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(templates),
        autoescape=jinja2.select_autoescape(["html"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass(frozen=True)
class ActiveNav:
    path: str
    text: str
    active: bool


def csrf_of(request: web.Request) -> str:
    cookie = request.cookies.get(SESSION_COOKIE)
    if request.get(AUTH_VIA) != "session" or cookie is None:
        return ""
    return csrf_token(cookie)


class Renderer:
    def __init__(self, catalogue: Catalogue, nav: tuple[NavItem, ...], static: Static) -> None:
        self.catalogue, self.nav, self.static = catalogue, nav, static
        self.known = frozenset(catalogue.keys())

    def base(self, request: web.Request, who: Principal | None, lang: str) -> dict[str, Any]:
        def t(key: str, **values: object) -> str:
            return self.catalogue.text(lang, key, **values)

        items = [] if who is None else visible(self.nav, who.role)
        here = request.path
        nav = [
            ActiveNav(i.path, i.text, here == i.path or here.startswith(i.path + "/"))
            for i in items
        ]
        return {
            "t": t,
            "lang": lang,
            "langs": LANGUAGES,
            "nav": nav,
            "who": who,
            "csrf": csrf_of(request),
            "path": request.path_qs,
            "static": self.static.url,
            "known": self.known,  # catalogue keys: `{% if key in known %}`
        }

    def render(
        self,
        request: web.Request,
        who: Principal | None,
        template: str,
        context: Mapping[str, Any] | None = None,
        *,
        tenant_language: str | None = None,
        status: int = 200,
    ) -> web.Response:
        lang = language(request, tenant_language)
        values = {**self.base(request, who, lang), **(context or {})}
        response = aiohttp_jinja2.render_template(template, request, values, status=status)
        response.headers.update(PAGE_HEADERS)
        return response
