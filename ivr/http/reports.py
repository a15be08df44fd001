"""Queue reports over HTTP: daily or hourly figures per queue (:mod:`ivr.reports.queues`).

Behind the guard (admin, team or external users of the tenant; an operator names it with
``tenant=``)::

    GET /api/reports/queues?from=&to=&by=day|hour&queue=&threshold=&format=json|csv

- ``from``/``to``: ISO 8601 with a UTC offset, stays that *entered* a queue in [from, to);
  default: the last 7 days (``by=day``) or 24 hours (``by=hour``) up to now; at most 400 days.
- ``by``: ``day`` (default) or ``hour``, in the tenant's time zone.
- ``threshold``: the service-level threshold in whole seconds (1..3600) for every queue;
  default: each queue's own ``service_level_threshold`` in the flow file (20 s unless set).
  Each row says the threshold it was counted with (``threshold``, seconds).
- ``format``: ``json`` (default: ``{"rows": [...], "from", "to", "by", "threshold"}``, the
  top-level ``threshold`` null unless the query gave one) or ``csv`` (a download,
  ``text/csv``).

400 names every bad parameter.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from aiohttp import web
from multidict import MultiMapping

from ivr.clock import Clock
from ivr.flowdefs.model import TenantFlows
from ivr.http.guard import Guard, Principal
from ivr.http.problems import BadInput
from ivr.http.query import single_values, times
from ivr.reports.queues import Period, QueueFigures, as_row, report, to_csv
from storage.domain import TenantInfo
from storage.events import Role
from storage.repositories.reports import ReportRepository

log = logging.getLogger(__name__)

MAX_SPAN = timedelta(days=400)
DEFAULT_SPAN = {Period.DAY: timedelta(days=7), Period.HOUR: timedelta(days=1)}
_PARAMS = frozenset({"from", "to", "by", "queue", "threshold", "format", "tenant"})
FORMATS = ("json", "csv")

TenantOf = Callable[[uuid.UUID], Awaitable[TenantInfo | None]]


class Definitions(Protocol):
    """The running flow definitions (the queues' service-level thresholds)."""

    def get(self, tenant: str) -> TenantFlows | None: ...


@dataclass(frozen=True)
class ReportQuery:
    since: datetime
    until: datetime
    period: Period
    queue: str | None
    threshold: timedelta | None  # None: each queue's own
    format: str


def _bounds(
    q: dict[str, str], period: Period, now: datetime, errors: dict[str, str]
) -> tuple[datetime, datetime]:
    found = times(q, errors)
    until = found.get("to", now)
    since = found.get("from", until - DEFAULT_SPAN[period])
    if until <= since:
        errors.setdefault("to", "must be after from")
    elif until - since > MAX_SPAN:
        errors.setdefault("from", f"at most {MAX_SPAN.days} days before to")
    return since, until


def parse_report_query(query: MultiMapping[str], now: datetime) -> ReportQuery:
    """What ``GET /api/reports/queues`` asks for; BadInput naming every bad parameter."""
    errors: dict[str, str] = {}
    q = single_values(query, _PARAMS, errors)
    try:
        period = Period(q.get("by", Period.DAY.value))
    except ValueError:
        errors["by"] = "day or hour"
        period = Period.DAY
    since, until = _bounds(q, period, now, errors)
    queue = q.get("queue") or None
    if queue is not None and not (len(queue) <= 64 and queue.isprintable()):
        errors["queue"] = "must be 1 to 64 printable characters"
    threshold: timedelta | None = None
    raw = q.get("threshold")
    if raw is not None:
        if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= 3600:
            threshold = timedelta(seconds=int(raw))
        else:
            errors["threshold"] = "whole seconds from 1 to 3600"
    fmt = q.get("format", "json")
    if fmt not in FORMATS:
        errors["format"] = "json or csv"
    if errors:
        raise BadInput("the query has invalid parameters", errors=errors)
    return ReportQuery(since, until, period, queue, threshold, fmt)


class QueueReports:
    """Reads the stays and computes the figures in the tenant's time zone."""

    def __init__(
        self, repo: ReportRepository, tenant_of: TenantOf, definitions: Definitions
    ) -> None:
        self._repo, self._tenant_of, self._defs = repo, tenant_of, definitions

    def thresholds(self, tenant: TenantInfo | None) -> dict[str, timedelta]:
        """Each queue's service-level threshold from the tenant's running flow file."""
        flows = None if tenant is None else self._defs.get(tenant.slug)
        if flows is None:
            return {}
        return {
            name: timedelta(seconds=q.service_level_threshold) for name, q in flows.queues.items()
        }

    async def figures(self, tenant_id: uuid.UUID, q: ReportQuery) -> list[QueueFigures]:
        tenant = await self._tenant_of(tenant_id)
        zone = ZoneInfo(tenant.time_zone if tenant is not None else "Europe/Helsinki")
        stays = await self._repo.stays(tenant_id, q.since, q.until, queue=q.queue)
        if q.threshold is not None:  # the query's, for every queue
            return report(stays, zone, q.period, threshold=q.threshold)
        return report(stays, zone, q.period, thresholds=self.thresholds(tenant))


def add_routes(app: web.Application, reports: QueueReports, clock: Clock, guard: Guard) -> None:
    @guard.requires(Role.ADMIN, Role.TEAM, Role.EXTERNAL, tenant_param="tenant")
    async def queues(request: web.Request, who: Principal) -> web.StreamResponse:
        q = parse_report_query(request.query, clock())
        rows = await reports.figures(who.tenant(), q)
        log.info("user %s read a %s queue report (%d rows)", who.login, q.period, len(rows))
        if q.format == "csv":
            name = f"queues-{q.period}-{q.since.date()}-{q.until.date()}.csv"
            return web.Response(
                text=to_csv(rows),
                content_type="text/csv",
                charset="utf-8",
                headers={
                    "Content-Disposition": f'attachment; filename="{name}"',
                    "Cache-Control": "no-store",
                },
            )
        return web.json_response(
            {
                "from": q.since.isoformat(),
                "to": q.until.isoformat(),
                "by": q.period.value,
                "threshold": None if q.threshold is None else int(q.threshold.total_seconds()),
                "rows": [as_row(r) for r in rows],
            },
            headers={"Cache-Control": "no-store"},
        )

    app.router.add_get("/api/reports/queues", queues, allow_head=False)
