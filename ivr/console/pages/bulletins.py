"""Bulletins: per number of the tenant, what callers hear now (with a player), what the
dialplan fallback would play, the current and upcoming bulletins (end now), a form to add one
(text with a text-to-speech preview, or an uploaded audio file; a validity window), and the
anonymous call counters per bulletin and hour as a chart. Everything goes through
``/api/bulletins/…`` (:mod:`ivr.http.bulletins`).

Admin and team users see it (only admins get the forms); ``external`` users get the 403 page.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from ivr.bulletins.service import BulletinService
from ivr.console.deps import PageDeps
from ivr.console.nav import NavItem
from ivr.http.guard import Principal
from storage.events import Role
from storage.repositories.bulletins import BulletinRepository, CounterRepository

ROLES = (Role.ADMIN, Role.TEAM)
NAV = (NavItem.of("/bulletins", "bulletins.nav", *ROLES),)
CHART_HOURS = 48


def hourly_chart(
    rows: list[tuple[uuid.UUID | None, datetime, int]], now: datetime, zone: ZoneInfo,
    width: int = 640, height: int = 120,
) -> dict[str, Any]:  # fmt: skip
    """Bars of calls per hour over the last :data:`CHART_HOURS` hours (all bulletins)."""
    start = (now - timedelta(hours=CHART_HOURS - 1)).replace(minute=0, second=0, microsecond=0)
    per_hour = [0] * CHART_HOURS
    for _, hour, calls in rows:
        index = int((hour - start).total_seconds() // 3600)
        if 0 <= index < CHART_HOURS:
            per_hour[index] += calls
    top = max(per_hour) or 1
    step = width / CHART_HOURS
    bars = [
        {"x": round(i * step, 1), "w": round(step * 0.8, 1),
         "y": round(height - height * c / top, 1), "h": round(height * c / top, 1), "calls": c,
         "label": (start + timedelta(hours=i)).astimezone(zone).strftime("%d.%m. %H:00")}
        for i, c in enumerate(per_hour)
    ]  # fmt: skip
    return {"width": width, "height": height, "bars": bars, "top": top, "total": sum(per_hour)}


def add_pages(app: web.Application, deps: PageDeps) -> None:
    service = deps.core.services.need(BulletinService)
    repo = deps.core.services.need(BulletinRepository)
    counts = deps.core.services.need(CounterRepository)
    clock = deps.core.clock

    @deps.guard.requires(*ROLES, tenant_param="tenant")
    async def page(request: web.Request, who: Principal) -> web.StreamResponse:
        tenant = await deps.tenant(who.tenant_id)
        zone = ZoneInfo(tenant.time_zone if tenant is not None else "Europe/Helsinki")
        now = clock()
        numbers = []
        for number in service.numbers():
            state = service.state(number)
            if state is None or (tenant is not None and state.tenant != tenant.slug):
                continue
            listing = await repo.listing(number, now=now)
            hourly = await counts.hourly(number, now - timedelta(hours=CHART_HOURS))
            per_bulletin: dict[uuid.UUID | None, int] = {}
            for bid, _, calls in hourly:
                per_bulletin[bid] = per_bulletin.get(bid, 0) + calls
            numbers.append({
                "state": state, "active": state.active(now), "listing": listing,
                "chart": hourly_chart(hourly, now, zone), "per_bulletin": per_bulletin,
            })  # fmt: skip

        def local(value: datetime | None) -> str:
            if value is None:
                return "\u2013"
            return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")

        return await deps.render(
            request,
            who,
            "bulletins/numbers.html",
            {"numbers": numbers, "local": local, "now": now, "may_change": who.role.is_admin,
             "languages": [("fi", "suomi"), ("sv", "svenska"), ("en", "English")]},
        )  # fmt: skip

    app.router.add_get("/bulletins", page)
