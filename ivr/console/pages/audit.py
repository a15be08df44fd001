"""The audit log page: entries newest first, filtered by action (a prefix such as ``user.``),
actor, target and date range (days in the tenant's time zone), and the state of the hash
chain: walked in full at most every ten minutes (or at once with ``?verify=full``, as
``linja audit verify``), the entries added since verified onto the last walk's checkpoint.
Admins see their tenant's entries, operators every entry (or one tenant's, ``?tenant=``). A
bad filter is shown beside its field (400) and nothing is looked up."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from ivr.console.deps import PageDeps
from ivr.console.nav import NavItem
from ivr.http.guard import Principal
from storage.events import Role
from storage.repositories.audit import AuditQuery

ADMINS = (Role.ADMIN,)
NAV = (NavItem.of("/audit", "audit.nav", *ADMINS),)
FILTERS = ("action", "actor", "target", "since", "until", "tenant", "before", "verify")
PAGE = 100
TEXT_MAX = 100


def _day(raw: str, field: str, errors: dict[str, str]) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[field] = "a date as YYYY-MM-DD"
        return None


def _text(raw: str, field: str, errors: dict[str, str]) -> str | None:
    if len(raw) > TEXT_MAX or not raw.isprintable():
        errors[field] = f"at most {TEXT_MAX} printable characters"
        return None
    return raw.strip() or None


def _start(day: date | None, zone: ZoneInfo) -> datetime | None:
    return None if day is None else datetime.combine(day, time(), zone)


def add_pages(app: web.Application, deps: PageDeps) -> None:
    audit = deps.core.audit

    @deps.guard.requires(*ADMINS)
    async def log_page(request: web.Request, who: Principal) -> web.StreamResponse:
        q = {k: request.query.get(k, "") for k in FILTERS}
        errors: dict[str, str] = {}
        tenant = await deps.tenant(who.tenant_id)
        if tenant is None and q["tenant"]:
            tenant = await deps.tenant_by_slug(q["tenant"])
        zone = ZoneInfo(tenant.time_zone if tenant is not None else "Europe/Helsinki")
        since, until = _day(q["since"], "since", errors), _day(q["until"], "until", errors)
        if since and until and until < since:
            errors["until"] = "must not be before the start"
        before = None
        if q["before"]:
            if not (q["before"].isascii() and q["before"].isdigit()) or len(q["before"]) > 18:
                errors["before"] = "not an entry id"
            else:
                before = int(q["before"])
        if q["verify"] not in ("", "full"):
            errors["verify"] = "only verify=full (walk the whole chain now)"
        texts = {k: _text(q[k], k, errors) for k in ("action", "actor", "target")}
        entries: list[Any] = []
        next_link = None
        if not errors:
            entries = await audit.search(
                AuditQuery(
                    tenant_id=None if tenant is None else tenant.id,
                    action=texts["action"],
                    actor=texts["actor"],
                    target=texts["target"],
                    since=_start(since, zone),
                    until=_start(until + timedelta(days=1) if until else None, zone),
                    before=before,
                    limit=PAGE,
                )
            )
            if len(entries) == PAGE:
                more = {k: v for k, v in q.items() if v and k not in ("before", "verify")}
                next_link = "/audit?" + urlencode({**more, "before": entries[-1].id})
        check = await audit.check(full=q["verify"] == "full" and not errors)
        return await deps.render(
            request,
            who,
            "audit/index.html",
            {
                "entries": entries,
                "q": q,
                "errors": errors,
                "report": check.report,
                "full_minutes": int(check.full_age // 60),
                "zone": zone,
                "next_link": next_link,
                "tenant": tenant,
            },
            status=400 if errors else 200,
        )

    app.router.add_get("/audit", log_page)
