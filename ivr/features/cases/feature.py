"""Cases: ``GET /api/cases`` (list and search a tenant's cases, paged newest first),
``GET /api/cases/{case_id}`` (one case with its queue stays) and ``GET /api/reports/queues``
(daily / hourly figures per queue), read from Postgres. Offers the case repository and the
queue reports to later features (the console's pages)."""

from __future__ import annotations

from aiohttp import web

from ivr.core import Core, Feature
from ivr.http.cases import add_routes
from ivr.http.reports import QueueReports
from ivr.http.reports import add_routes as add_report_routes
from storage.repositories.cases import CaseRepository
from storage.repositories.reports import ReportRepository


async def wire(core: Core) -> Feature:
    cases = CaseRepository(core.sessions)
    reports = QueueReports(ReportRepository(core.sessions), core.tenants.get, core.definitions)
    core.services.offer(cases, reports)

    def routes(app: web.Application) -> None:
        add_routes(app, cases, core.guard)
        add_report_routes(app, reports, core.clock, core.guard)

    return Feature("cases", routes=(routes,))
