"""Work lists: the tenant's open and claimed callback requests (phone) and contact requests
(SMS, e-mail, chat, web), with claim (the oldest open one, as ``POST /api/requests/claim``),
complete, release and cancel through the request API (audited there), and each request's
attempt history (the dialer's attempts for callbacks; the count and last handling for
written requests).

Admin and team users of the tenant; ``external`` users get the 403 page.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from ivr.console.deps import PageDeps
from ivr.console.nav import NavItem
from ivr.http.guard import Principal
from ivr.http.problems import BadInput
from storage.domain import ContactRequestView
from storage.events import Channel, Role
from storage.repositories.callbacks import AttemptView, CallbackRepository
from storage.repositories.contact_requests import ContactRequestRepository

ROLES = (Role.ADMIN, Role.TEAM)
NAV = (NavItem.of("/work", "work.nav", *ROLES),)
LISTS = {
    "callbacks": (Channel.PHONE,),
    "contacts": tuple(c for c in Channel if c is not Channel.PHONE),
}


def add_pages(app: web.Application, deps: PageDeps) -> None:
    requests = ContactRequestRepository(deps.core.sessions)
    callbacks = CallbackRepository(deps.core.sessions)

    @deps.guard.requires(*ROLES, tenant_param="tenant")
    async def work(request: web.Request, who: Principal) -> web.StreamResponse:
        which = request.query.get("list", "callbacks")
        if which not in LISTS:
            raise BadInput("unknown list", errors={"list": "callbacks or contacts"})
        tenant = await deps.tenant(who.tenant_id)
        zone = ZoneInfo(tenant.time_zone if tenant is not None else "Europe/Helsinki")
        rows = await requests.list_open(who.tenant(), channels=LISTS[which], limit=200)
        history: dict[uuid.UUID, list[AttemptView]] = {}
        if which == "callbacks":
            history = await callbacks.attempts_of([r.id for r in rows])

        def local(value: datetime | None) -> str:
            if value is None:
                return "\u2013"
            return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")

        def mine(r: ContactRequestView) -> bool:
            return r.claimed_by == who.user.id or (r.claimed_by is not None and who.role.is_admin)

        tenant_q = request.query.get("tenant") if who.user.tenant_id is None else None
        context: dict[str, Any] = {
            "tenant_q": tenant_q,
            "tenant_qs": f"?{urlencode({'tenant': tenant_q})}" if tenant_q else "",
            "which": which, "rows": rows, "history": history, "local": local, "mine": mine,
            "channels": [(c.value, c.value) for c in LISTS[which]],
        }  # fmt: skip
        return await deps.render(request, who, "work/list.html", context)

    app.router.add_get("/work", work)
