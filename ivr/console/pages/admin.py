"""Admin pages: tenants (with their retention settings), service numbers, users and roles.

They read through :class:`~ivr.admin.operations.Management` (what the admin feature offers,
the same operations as ``/api/tenants|numbers|users`` and ``linja tenant|number|user``), and
change nothing themselves: their forms send JSON to those API routes. Admins see their own
tenant; operators every tenant (and only they add tenants and numbers).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ivr.admin.operations import Management, page_after
from ivr.admin.validation import LANGUAGES
from ivr.admin.views import number_view, tenant_view, user_view
from ivr.console.deps import PageDeps
from ivr.console.nav import NavItem
from ivr.http.guard import Principal
from storage.domain import Page, UserInfo
from storage.events import Role
from storage.models.tenants import SERVICES

ADMINS = (Role.ADMIN,)  # and operators (the guard lets an operator do what an admin may)
NAV = (
    NavItem.of("/admin/tenants", "admin.nav.tenants", *ADMINS),
    NavItem.of("/admin/numbers", "admin.nav.numbers", *ADMINS),
    NavItem.of("/admin/users", "admin.nav.users", *ADMINS),
)
PAGE = 50
NATIVE = {"fi": "suomi", "sv": "svenska", "en": "English"}
SERVICE_OPTIONS = [(s, s) for s in SERVICES]
LANGUAGE_OPTIONS = [(code, NATIVE.get(code, code)) for code in LANGUAGES]


def _after(request: web.Request) -> str | None:
    return page_after(request.query.get("after"))  # Invalid: a 400 page


def _next_link(request: web.Request, page: Page[Any]) -> str | None:
    return None if page.after is None else f"{request.path}?{urlencode({'after': page.after})}"


def add_pages(app: web.Application, deps: PageDeps) -> None:
    admin = deps.core.services.need(Management)
    admins = deps.guard.requires(*ADMINS)

    async def slug_of(user: UserInfo) -> str | None:
        return await admin.slug_of(user.tenant_id)

    @admins
    async def tenants(request: web.Request, who: Principal) -> web.StreamResponse:
        if who.tenant_id is not None:
            own = await admin.tenants.get(who.tenant_id)
            rows, next_link = [tenant_view(own)], None
        else:
            page = await admin.tenant_page(_after(request), PAGE)
            rows, next_link = [tenant_view(t) for t in page.items], _next_link(request, page)
        return await deps.render(
            request,
            who,
            "admin/tenants.html",
            {"tenants": rows, "next_link": next_link, "languages": LANGUAGE_OPTIONS},
        )

    @admins
    async def tenant(request: web.Request, who: Principal) -> web.StreamResponse:
        found = await admin.tenant(request.match_info["slug"])
        who.scope(found.id)
        return await deps.render(
            request,
            who,
            "admin/tenant.html",
            {"tenant": tenant_view(found), "languages": LANGUAGE_OPTIONS},
        )

    @admins
    async def numbers(request: web.Request, who: Principal) -> web.StreamResponse:
        page = await admin.numbers(who.tenant_id, _after(request), PAGE)
        rows = [number_view(n, await admin.slug_of(n.tenant_id)) for n in page.items]
        own = await admin.slug_of(who.tenant_id)
        return await deps.render(
            request,
            who,
            "admin/numbers.html",
            {
                "numbers": rows,
                "next_link": _next_link(request, page),
                "services": SERVICE_OPTIONS,
                "own_tenant": own,
            },
        )

    @admins
    async def users(request: web.Request, who: Principal) -> web.StreamResponse:
        page = await admin.user_page(who.tenant_id, _after(request), PAGE)
        rows = [user_view(u, await slug_of(u)) for u in page.items]
        roles = [
            (r.value, r.value) for r in Role if who.tenant_id is None or r is not Role.OPERATOR
        ]
        return await deps.render(
            request,
            who,
            "admin/users.html",
            {
                "users": rows,
                "next_link": _next_link(request, page),
                "roles": roles,
                "own_tenant": await admin.slug_of(who.tenant_id),
            },
        )

    @admins
    async def user(request: web.Request, who: Principal) -> web.StreamResponse:
        found = await admin.user(request.match_info["login"])
        who.scope(found.tenant_id)
        operator = found.role is Role.OPERATOR
        roles = [(r.value, r.value) for r in Role if (r is Role.OPERATOR) == operator]
        return await deps.render(
            request,
            who,
            "admin/user.html",
            {"user": user_view(found, await slug_of(found)), "roles": roles},
        )

    r = app.router
    r.add_get("/admin/tenants", tenants)
    r.add_get("/admin/tenants/{slug}", tenant)
    r.add_get("/admin/numbers", numbers)
    r.add_get("/admin/users", users)
    r.add_get("/admin/users/{login}", user)
