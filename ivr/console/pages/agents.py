"""The agents page: each agent of the tenant in their state (available, ringing, talking,
wrap-up, paused with the reason, logged out) with the time in it, and the buttons to log in,
log out, pause with a reason and resume, which post to ``/api/agents/{agent}/{action}``.

A team user sees and changes only themselves (the API refuses anyone else); an admin every
agent of their tenant; an operator those of the tenant they pick (``?tenant=``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ivr.callcenter.agents import AgentState
from ivr.callcenter.coordinator import QueueCoordinator
from ivr.console.deps import PageDeps
from ivr.console.nav import NavItem
from ivr.http.guard import Principal
from storage.events import Role

STAFF = (Role.ADMIN, Role.TEAM)
NAV = (NavItem.of("/agents", "agents.nav", *STAFF),)


def in_state(since: object, now: datetime) -> str:
    """How long since ``since`` (an ISO time), as H:MM:SS; empty when unknown."""
    if not isinstance(since, str):
        return ""
    seconds = max(0, int((now - datetime.fromisoformat(since)).total_seconds()))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def add_pages(app: web.Application, deps: PageDeps) -> None:
    coordinator = deps.core.services.need(QueueCoordinator)
    core = deps.core

    @deps.guard.requires(*STAFF)
    async def agents(request: web.Request, who: Principal) -> web.StreamResponse:
        tenant = await deps.tenant(who.tenant_id)
        slug = request.query.get("tenant")
        if tenant is None and slug:
            tenant = await deps.tenant_by_slug(slug)
        if tenant is None:  # an operator: which tenant?
            page = await core.tenants.page(after=None, limit=200)
            return await deps.render(
                request, who, "agents/pick.html", {"tenants": [t.slug for t in page.items]}
            )
        now = core.clock()
        records = {str(r["agent_id"]): r for r in coordinator.engine.board.snapshot()}
        rows: list[dict[str, Any]] = []
        for agent in sorted(set(records) | core.definitions.agents()):
            if await core.directory.agent_tenant(agent) != tenant.id:
                continue
            if not who.role.is_admin and agent != who.login:
                continue
            record = records.get(agent, {})
            rows.append(
                {
                    "agent": agent,
                    "state": record.get("state", AgentState.LOGGED_OUT.value),
                    "in_state": in_state(record.get("since"), now),
                    "reason": record.get("pause_reason") or "",
                    "queue": record.get("queue") or "",
                }
            )
        query = "" if who.tenant_id is not None else "?" + urlencode({"tenant": tenant.slug})
        return await deps.render(
            request, who, "agents/index.html", {"agents": rows, "tenant": tenant, "query": query}
        )

    app.router.add_get("/agents", agents)
