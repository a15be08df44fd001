"""Agent state over HTTP: `POST /api/agents/{login}/{login|logout|pause|unpause}` and
`GET /api/agents`, both for `admin` and `team` users of the agent's tenant (an agent is a
user of one tenant; `external` users never). The list holds the agents of the principal's
tenant only. A `team` user changes only themselves, an `admin` any agent of their tenant, an
operator any agent, naming the tenant (`?tenant=SLUG`; another tenant named, or an agent of
another tenant, is a 403). A pause's ``?reason=`` is at most 100 printable characters (400
naming ``reason`` otherwise). Errors are problem+json bodies (:mod:`ivr.http.edge`): an illegal
transition is 409."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Protocol

from aiohttp import web

from ivr.callcenter.coordinator import QueueCoordinator
from ivr.callcenter.errors import IllegalTransition
from ivr.http.edge import register
from ivr.http.guard import Guard, Principal
from ivr.http.problems import BadInput, NotAllowed, NotThere, TenantRefused
from storage.events import Role

log = logging.getLogger(__name__)

ACTIONS = ("login", "logout", "pause", "unpause")
REASON_MAX = 100


def pause_reason(request: web.Request) -> str:
    """``?reason=`` of a pause: at most :data:`REASON_MAX` printable characters (may be empty)."""
    reason = request.query.get("reason", "")
    if len(reason) > REASON_MAX or not reason.isprintable():
        raise BadInput(
            "the pause reason is not valid",
            errors={"reason": f"at most {REASON_MAX} printable characters"},
        )
    return reason


class AgentTenants(Protocol):
    async def agent_tenant(self, login: str) -> uuid.UUID | None: ...


def add_routes(
    app: web.Application,
    coordinator: QueueCoordinator,
    guard: Guard,
    known_agents: Callable[[], set[str]],
    tenants: AgentTenants,
) -> None:
    register(app, IllegalTransition, 409, slug="illegal-transition")
    staff = guard.requires(Role.ADMIN, Role.TEAM, tenant_param="tenant")

    @staff
    async def change(request: web.Request, who: Principal) -> web.StreamResponse:
        agent, action = request.match_info["agent"], request.match_info["action"]
        if action not in ACTIONS:
            raise NotThere(f"unknown action {action[:20]!r}")
        if not who.role.is_admin and who.login != agent:
            raise NotAllowed("a team user changes only their own state")
        tenant = await tenants.agent_tenant(agent)
        if tenant is None or agent not in known_agents():
            raise NotThere(f"unknown agent {agent[:64]!r}")
        if tenant != who.tenant():
            raise TenantRefused("an agent of another tenant")
        reason = pause_reason(request) if action == "pause" else ""
        state = await coordinator.agent_action(agent, action, reason)
        log.info("agent %s: %s by %s", agent, action, who.login)
        await coordinator.flush_agents()
        return web.json_response(state.to_dict())

    @staff
    async def listing(_request: web.Request, who: Principal) -> web.StreamResponse:
        mine = who.tenant()
        agents = [
            record
            for record in coordinator.engine.board.snapshot()
            if await tenants.agent_tenant(str(record["agent_id"])) == mine
        ]
        return web.json_response(agents)

    app.router.add_get("/api/agents", listing)
    app.router.add_post("/api/agents/{agent}/{action}", change)
