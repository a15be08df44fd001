"""The home page (``/``: service health and the bulletins in force of one's tenant), the login
page, and the language switch (``/language/{code}?next=``: a cookie for this browser)."""

from __future__ import annotations

from aiohttp import web

from ivr.bulletins.service import BulletinService
from ivr.console.catalogue import LANGUAGES
from ivr.console.deps import PageDeps
from ivr.console.errors import safe_next
from ivr.console.language import remember
from ivr.console.nav import NavItem
from ivr.http.guard import Principal
from ivr.http.problems import NotThere

NAV = (NavItem.of("/", "home.nav"),)


def add_pages(app: web.Application, deps: PageDeps) -> None:
    core = deps.core
    bulletins = core.services.need(BulletinService)

    @deps.guard.requires()
    async def home(request: web.Request, who: Principal) -> web.StreamResponse:
        tenant = await deps.tenant(who.tenant_id)
        now = core.clock()
        numbers = []
        for number in bulletins.numbers():
            state = bulletins.state(number)
            if state is None or (tenant is not None and state.tenant != tenant.slug):
                continue
            numbers.append({"number": state.number, "tenant": state.tenant,
                            "active": len(state.active(now))})  # fmt: skip
        return await deps.render(
            request,
            who,
            "home/index.html",
            {
                "ari_connected": core.stream.connected,
                "active_calls": core.dispatcher.active_calls,
                "numbers": numbers,
                "tenant": tenant,
            },
        )

    async def login(request: web.Request) -> web.StreamResponse:
        then = safe_next(request.query.get("next"))
        return deps.renderer.render(request, None, "home/login.html", {"next": then})

    async def switch_language(request: web.Request) -> web.StreamResponse:
        code = request.match_info["code"]
        if code not in LANGUAGES:
            raise NotThere(f"no console language {code[:8]!r}")
        response = web.Response(
            status=303,
            headers={"Location": safe_next(request.query.get("next")), "Cache-Control": "no-store"},
        )
        remember(response, code, secure=request.secure)
        return response

    app.router.add_get("/", home)
    app.router.add_get("/login", login)
    app.router.add_get("/language/{code}", switch_language)
