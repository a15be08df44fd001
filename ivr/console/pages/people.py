"""People's data (admins): find one person by phone number or e-mail address and see what is
held (the export: ``POST /api/subjects/export``, which also writes the bundle and audits
it), restrict or lift the restriction, erase after a confirmation step, and the tenant's
erasure ledger (who, when, counts: no personal data). Personal data goes only in the
requests' JSON bodies, never in a URL."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiohttp import web

from ivr.console.deps import PageDeps
from ivr.console.nav import NavItem
from ivr.http.guard import Principal
from storage.events import Role
from storage.repositories.erasures import ErasureRepository

ADMINS = (Role.ADMIN,)
NAV = (NavItem.of("/people", "people.nav", *ADMINS),)


def add_pages(app: web.Application, deps: PageDeps) -> None:
    ledger = ErasureRepository(deps.core.sessions)

    @deps.guard.requires(*ADMINS)
    async def people(request: web.Request, who: Principal) -> web.StreamResponse:
        tenant = await deps.tenant(who.tenant_id)
        slug = request.query.get("tenant")
        if tenant is None and slug:
            tenant = await deps.tenant_by_slug(slug)
        entries = [] if tenant is None else await ledger.ledger(tenant.id, limit=100)
        zone = ZoneInfo(tenant.time_zone if tenant is not None else "Europe/Helsinki")
        return await deps.render(
            request, who, "people/index.html", {"tenant": tenant, "ledger": entries, "zone": zone}
        )

    app.router.add_get("/people", people)
