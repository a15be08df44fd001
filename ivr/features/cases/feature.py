"""Cases: ``GET /api/cases`` (list and search a tenant's cases, paged newest first) and
``GET /api/cases/{case_id}`` (one case with its queue stays), read from Postgres."""

from __future__ import annotations

from ivr.core import Core, Feature
from ivr.http.cases import add_routes
from storage.repositories.cases import CaseRepository


async def wire(core: Core) -> Feature:
    cases = CaseRepository(core.sessions)
    return Feature("cases", routes=(lambda app: add_routes(app, cases, core.guard),))
