"""The wallboard page (``/wallboard``: the user's tenant; an operator names it with
``?tenant=``), with a full-screen mode for a wall (``?wall=1``: no nav, large type). The page
is rendered from the wallboard document and kept live by ``static/wallboard.js`` from the
tenant's event stream (``/api/tenants/{slug}/wallboard/events``)."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from ivr.console.deps import PageDeps
from ivr.console.nav import NavItem
from ivr.http.guard import Principal
from ivr.http.problems import NotThere
from ivr.wallboard.figures import STATES
from ivr.wallboard.service import Wallboards
from storage.events import Role

NAV = (NavItem.of("/wallboard", "wallboard.nav", Role.ADMIN, Role.TEAM),)


def add_pages(app: web.Application, deps: PageDeps) -> None:
    wallboards = deps.core.services.need(Wallboards)

    @deps.guard.requires(Role.ADMIN, Role.TEAM, tenant_param="tenant")
    async def board(request: web.Request, who: Principal) -> web.StreamResponse:
        tenant = await deps.tenant(who.tenant())
        if tenant is None:  # pragma: no cover - the guard resolved it
            raise NotThere("unknown tenant")
        hub = wallboards.hub(tenant.slug)
        await hub.refresh()
        wall = request.query.get("wall") == "1"
        query = f"?tenant={quote(tenant.slug)}" if who.user.tenant_id is None else ""
        return await deps.render(
            request,
            who,
            "wallboard/board.html",
            {
                "doc": hub.document(),
                "wall": wall,
                "states": STATES,
                "stream": f"/api/tenants/{quote(tenant.slug)}/wallboard/events",
                "wall_link": f"/wallboard{query}{'&' if query else '?'}wall=1",
                "normal_link": f"/wallboard{query}",
            },
        )

    app.router.add_get("/wallboard", board)
