"""Staff call-out (issue 16): the tenant's staff groups (create one; a group's members with
their numbers in calling order, PIN or not and availability: add, edit, remove), the list of
call-outs with a form to start one (a text or an uploaded audio message), and one call-out's
report (totals, time to N, each member's attempts), reloaded every few seconds while it
runs, with *Cancel* and the CSV download.

Everything is read through :class:`~ivr.callout.service.CalloutService` (what the callout
feature offers) and changed through ``/api/groups`` and ``/api/callouts``
(:mod:`ivr.http.callouts`), which these pages' forms post to. The roles are the API's:
admin and team users of the tenant (``external`` users get the 403 page; an operator names
the tenant with ``?tenant=SLUG``); another tenant's group or call-out is not found (404).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from ivr.callout.service import CalloutService
from ivr.console.deps import PageDeps
from ivr.console.nav import NavItem
from ivr.http.callouts import tenant_callout, tenant_group
from ivr.http.guard import Principal
from ivr.texts import LANGUAGES
from storage.domain import StaffGroupView
from storage.events import Role
from storage.models.staff import MEMBER_KINDS

ROLES = (Role.ADMIN, Role.TEAM)  # as /api/groups and /api/callouts
NAV = (
    NavItem.of("/callouts", "callouts.nav", *ROLES),
    NavItem.of("/groups", "callouts.nav.groups", *ROLES),
)
POLL_SECONDS = 5  # the report page of a running call-out reloads this often
NATIVE = {"fi": "suomi", "sv": "svenska", "en": "English"}


def local_time(zone: ZoneInfo, value: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A time (or an ISO string of the report) in the tenant's zone; a dash for none."""
    if value is None:
        return "\u2013"
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at.astimezone(zone).strftime(fmt)


def duration(seconds: float | None) -> str:
    """Seconds as ``1 h 2 min 3 s`` (a dash for none)."""
    if seconds is None:
        return "\u2013"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h"] if hours else []
    if hours or minutes:
        parts.append(f"{minutes} min")
    parts.append(f"{secs} s")
    return " ".join(parts)


def add_pages(app: web.Application, deps: PageDeps) -> None:
    service = deps.core.services.need(CalloutService)
    guarded = deps.guard.requires(*ROLES, tenant_param="tenant")

    async def common(request: web.Request, who: Principal) -> dict[str, Any]:
        tenant = await deps.tenant(who.tenant())
        tenant_q = request.query.get("tenant") if who.user.tenant_id is None else None
        return {
            "tenant": tenant,
            "zone": ZoneInfo(tenant.time_zone if tenant is not None else "Europe/Helsinki"),
            "tenant_qs": f"?{urlencode({'tenant': tenant_q})}" if tenant_q else "",
            "tenant_amp": f"&{urlencode({'tenant': tenant_q})}" if tenant_q else "",
            "local": local_time,
            "duration": duration,
        }

    async def group_of(request: web.Request, who: Principal) -> StaffGroupView:
        return await tenant_group(service, request, who)

    @guarded
    async def groups(request: web.Request, who: Principal) -> web.StreamResponse:
        listed = []
        for g in await service.groups.groups(who.tenant()):
            members = await service.groups.members(g.id)
            available = sum(1 for m in members if m.available)
            listed.append({"group": g, "members": len(members), "available": available})
        context = await common(request, who)
        context["groups"] = listed
        return await deps.render(request, who, "callouts/groups.html", context)

    @guarded
    async def group(request: web.Request, who: Principal) -> web.StreamResponse:
        g = await group_of(request, who)
        context = await common(request, who)
        context.update(
            group=g,
            members=await service.groups.members(g.id),
            kinds=[(k, k) for k in MEMBER_KINDS],
        )
        return await deps.render(request, who, "callouts/group.html", context)

    @guarded
    async def callouts(request: web.Request, who: Principal) -> web.StreamResponse:
        context = await common(request, who)
        names = {g.id: g.name for g in await service.groups.groups(who.tenant())}
        rows = await service.callouts.of_tenant(who.tenant())
        context.update(
            callouts=[
                {"c": c, "group": names.get(c.group_id) if c.group_id else None} for c in rows
            ],
            groups=[(name, name) for name in sorted(names.values())],
            escalations=[("", "\u2013"), *((name, name) for name in sorted(names.values()))],
            languages=[(code, NATIVE.get(code, code)) for code in LANGUAGES],
            language=context["tenant"].language if context["tenant"] is not None else "fi",
        )
        return await deps.render(request, who, "callouts/list.html", context)

    @guarded
    async def callout(request: web.Request, who: Principal) -> web.StreamResponse:
        c = await tenant_callout(service, request, who)
        report = await service.report(c)
        names = {g.id: g.name for g in await service.groups.groups(who.tenant())}
        context = await common(request, who)
        context.update(
            c=c,
            report=report,
            group=names.get(c.group_id) if c.group_id else None,
            escalate_to=names.get(c.escalate_group_id) if c.escalate_group_id else None,
            running=c.status == "running",
            poll_seconds=POLL_SECONDS,
        )
        return await deps.render(request, who, "callouts/report.html", context)

    r = app.router
    r.add_get("/groups", groups)
    r.add_get("/groups/{id}", group)
    r.add_get("/callouts", callouts)
    r.add_get("/callouts/{id}", callout)
