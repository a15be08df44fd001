"""Cases and reports: search a tenant's cases (time, number, queue, agent, outcome, channel),
one case's timeline with its recordings and voice messages (played through the listening
API, which logs the listening before the first byte) and its transcripts (each text fetched
from ``GET /api/transcripts/{id}``, which logs the read first), the abandoned calls with their wait,
and the daily / hourly queue report with a chart and CSV download.

Admin and team users of the tenant (``external`` users get the 403 page): the pages read
what ``GET /api/cases`` and ``GET /api/reports/queues`` read, with the same parsing (a bad
filter is shown beside its field, status 400, and nothing is searched).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from multidict import MultiDict

from ivr.console.deps import PageDeps
from ivr.console.nav import NavItem
from ivr.http.cases import case_json, encode_cursor, parse_case_id, parse_list_query
from ivr.http.guard import Principal
from ivr.http.problems import BadInput, NotThere
from ivr.http.reports import QueueReports, parse_report_query
from ivr.reports.queues import QueueFigures
from ivr.reports.timeline import timeline
from recording.listen import ListeningService, may_listen
from storage.domain import AudioView
from storage.errors import NotFound
from storage.events import Channel, Outcome, Role
from storage.repositories.cases import CaseRepository
from storage.repositories.transcripts import TranscriptRepository, TranscriptView

ROLES = (Role.ADMIN, Role.TEAM)
NAV = (
    NavItem.of("/cases", "cases.nav", *ROLES),
    NavItem.of("/reports", "reports.nav", *ROLES),
)
FILTERS = ("from", "to", "service_number", "queue", "agent", "outcome", "channel")
PAGE_SIZE = 50


def local_to_iso(text: str, zone: ZoneInfo) -> str:
    """A ``datetime-local`` field's value (no offset: the tenant's local time) as ISO 8601
    with an offset; anything else is passed on for the API's parser to judge."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return text
    if value.utcoffset() is None:
        value = value.replace(tzinfo=zone)
    return value.isoformat()


def api_query(form: Mapping[str, str], zone: ZoneInfo, keep: tuple[str, ...]) -> dict[str, str]:
    """The API query of a filter form: blank fields left out, local times with the zone."""
    out: dict[str, str] = {}
    for key in keep:
        value = form.get(key, "").strip()
        if value:
            out[key] = local_to_iso(value, zone) if key in ("from", "to") else value
    return out


def operator_tenant(request: web.Request, who: Principal) -> str | None:
    """The ``tenant`` a user of no tenant (an operator) named: kept in the page's links."""
    return request.query.get("tenant") if who.user.tenant_id is None else None


def seconds(value: timedelta | float | None) -> str:
    if value is None:
        return "\u2013"
    total = value.total_seconds() if isinstance(value, timedelta) else value
    return f"{total:.1f} s" if total < 60 else f"{int(total // 60)} min {total % 60:.0f} s"


def bar_chart(rows: list[QueueFigures], width: int = 640, height: int = 160) -> dict[str, Any]:
    """Bars of answered (and abandoned on top) per period for the report's SVG."""
    by_period: dict[datetime, list[int]] = {}
    for r in rows:
        answered, abandoned = by_period.setdefault(r.period_start, [0, 0])
        by_period[r.period_start] = [answered + r.answered, abandoned + r.abandoned]
    top = max([a + b for a, b in by_period.values()] or [0]) or 1
    n = max(len(by_period), 1)
    step = width / n
    bars = []
    for i, (start, (answered, abandoned)) in enumerate(sorted(by_period.items())):
        h_answered = height * answered / top
        h_abandoned = height * abandoned / top
        bars.append({
            "x": round(i * step + step * 0.1, 1), "w": round(step * 0.8, 1),
            "answered_y": round(height - h_answered, 1), "answered_h": round(h_answered, 1),
            "abandoned_y": round(height - h_answered - h_abandoned, 1),
            "abandoned_h": round(h_abandoned, 1),
            "label": start.strftime("%d.%m. %H"), "answered": answered, "abandoned": abandoned,
        })  # fmt: skip
    return {"width": width, "height": height, "bars": bars, "top": top}


def add_pages(app: web.Application, deps: PageDeps) -> None:
    cases = deps.core.services.need(CaseRepository)
    reports = deps.core.services.need(QueueReports)
    listening = deps.core.services.need(ListeningService)
    transcripts = deps.core.services.need(TranscriptRepository)
    clock = deps.core.clock

    async def zone_of(who: Principal) -> ZoneInfo:
        tenant = await deps.tenant(who.tenant_id)
        return ZoneInfo(tenant.time_zone if tenant is not None else "Europe/Helsinki")

    def local(zone: ZoneInfo) -> Any:
        def show(value: datetime | str | None) -> str:
            if value is None:
                return "\u2013"
            if isinstance(value, str):
                value = datetime.fromisoformat(value)
            return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")

        return show

    async def search(
        request: web.Request, who: Principal, template: str, fixed: dict[str, str]
    ) -> web.StreamResponse:
        zone = await zone_of(who)
        tenant_q = operator_tenant(request, who)
        form = {k: request.query.get(k, "") for k in FILTERS}
        query = {**api_query(form, zone, FILTERS), **fixed, "limit": str(PAGE_SIZE)}
        if request.query.get("after"):
            query["after"] = request.query["after"]
        errors: Mapping[str, str] = {}
        items: list[dict[str, Any]] = []
        next_link = None
        try:
            parsed = parse_list_query(MultiDict(query), who.tenant())
        except BadInput as bad:
            errors = bad.errors or {}
        else:
            page = await cases.search(parsed.search, after=parsed.after, limit=parsed.limit)
            items = [case_json(i, who.user) for i in page.items]
            if page.next is not None:
                kept = {k: v for k, v in form.items() if v}
                if tenant_q:
                    kept["tenant"] = tenant_q
                next_link = (
                    f"{request.path}?{urlencode({**kept, 'after': encode_cursor(page.next)})}"
                )
        return await deps.render(
            request,
            who,
            template,
            {
                "form": form, "errors": errors, "items": items, "next_link": next_link,
                "tenant_q": tenant_q,
                "outcomes": [(o.value, o.value) for o in Outcome],
                "channels": [(c.value, c.value) for c in Channel],
                "local": local(zone), "seconds": seconds,
            },
            status=400 if errors else 200,
        )  # fmt: skip

    @deps.guard.requires(*ROLES, tenant_param="tenant")
    async def case_list(request: web.Request, who: Principal) -> web.StreamResponse:
        return await search(request, who, "cases/list.html", {})

    @deps.guard.requires(*ROLES, tenant_param="tenant")
    async def abandoned(request: web.Request, who: Principal) -> web.StreamResponse:
        return await search(request, who, "cases/abandoned.html", {"outcome": "abandoned"})

    @deps.guard.requires(*ROLES, tenant_param="tenant")
    async def one_case(request: web.Request, who: Principal) -> web.StreamResponse:
        try:
            case_id = parse_case_id(request.match_info["case_id"])
            listed = await cases.listed(case_id)
        except (BadInput, NotFound):
            raise NotThere("no such case") from None
        who.scope(listed.case.tenant_id)
        audio: list[AudioView] = []
        texts: list[TranscriptView] = []
        listener = may_listen(who.user, listed.case.tenant_id)
        if listener:  # who may read a transcript through the API may see the list
            audio = await listening.case_audio(case_id, who.user)
            texts = await transcripts.for_case(case_id)
        zone = await zone_of(who)
        return await deps.render(
            request,
            who,
            "cases/case.html",
            {
                "case": case_json(listed, who.user), "steps": timeline(listed.case),
                "audio": audio, "listener": listener, "may_download": listener,
                "transcripts": texts,
                "local": local(zone), "seconds": seconds,
                "paths": {"recording": "recordings", "voice_message": "voice-messages"},
            },
        )  # fmt: skip

    @deps.guard.requires(*ROLES, tenant_param="tenant")
    async def report_page(request: web.Request, who: Principal) -> web.StreamResponse:
        zone = await zone_of(who)
        tenant_q = operator_tenant(request, who)
        keep = ("from", "to", "by", "queue", "threshold")
        form = {k: request.query.get(k, "") for k in keep}
        form["by"] = form["by"] or "day"
        query = api_query(form, zone, keep)
        errors: Mapping[str, str] = {}
        rows: list[QueueFigures] = []
        csv_link = None
        try:
            parsed = parse_report_query(MultiDict(query), clock())
        except BadInput as bad:
            errors = bad.errors or {}
        else:
            rows = await reports.figures(who.tenant(), parsed)
            csv_query = {**query, "from": parsed.since.isoformat(), "to": parsed.until.isoformat(),
                         "format": "csv"}  # fmt: skip
            if tenant_q:
                csv_query["tenant"] = tenant_q
            csv_link = f"/api/reports/queues?{urlencode(csv_query)}"
            if not form["from"]:
                form["from"] = parsed.since.astimezone(zone).strftime("%Y-%m-%dT%H:%M")
            if not form["to"]:
                form["to"] = parsed.until.astimezone(zone).strftime("%Y-%m-%dT%H:%M")
        return await deps.render(
            request,
            who,
            "cases/report.html",
            {
                "form": form, "errors": errors, "rows": rows, "csv_link": csv_link,
                "chart": bar_chart(rows), "seconds": seconds, "zone": zone,
                "tenant_q": tenant_q,
            },
            status=400 if errors else 200,
        )  # fmt: skip

    app.router.add_get("/cases", case_list)
    app.router.add_get("/cases/abandoned", abandoned)
    app.router.add_get("/cases/{case_id}", one_case)
    app.router.add_get("/reports", report_page)
