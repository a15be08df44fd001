"""Agent state over HTTP: `POST /api/agents/{login}/{login|logout|pause|unpause}` and
`GET /api/agents`. Behind the guard (HTTP Basic against Linja users): any user may list, an
agent may change their own state, an `admin` user any agent's; `external` users never.
Errors are problem+json bodies (:mod:`ivr.http.edge`): an illegal transition is 409."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from ivr.callcenter.coordinator import QueueCoordinator
from ivr.callcenter.errors import IllegalTransition
from ivr.http.edge import register
from ivr.http.guard import Guard, Principal
from ivr.http.problems import NotAllowed, NotThere
from storage.events import Role

log = logging.getLogger(__name__)

ACTIONS = ("login", "logout", "pause", "unpause")


def add_routes(
    app: web.Application,
    coordinator: QueueCoordinator,
    guard: Guard,
    known_agents: Callable[[], set[str]],
) -> None:
    register(app, IllegalTransition, 409, slug="illegal-transition")

    @guard.requires(Role.ADMIN, Role.TEAM)
    async def change(request: web.Request, who: Principal) -> web.StreamResponse:
        agent, action = request.match_info["agent"], request.match_info["action"]
        if action not in ACTIONS:
            raise NotThere(f"unknown action {action[:20]!r}")
        if not who.role.is_admin and who.login != agent:
            raise NotAllowed("not allowed to change this agent")
        if agent not in known_agents():
            raise NotThere(f"unknown agent {agent[:64]!r}")
        if action == "pause":
            state = coordinator.pause(agent, request.query.get("reason", ""))
        else:
            state = getattr(coordinator, action)(agent)
        log.info("agent %s: %s by %s", agent, action, who.login)
        await coordinator.flush_agents()
        return web.json_response(state.to_dict())

    @guard.requires()
    async def listing(_request: web.Request, _who: Principal) -> web.StreamResponse:
        return web.json_response(coordinator.engine.board.snapshot())

    app.router.add_get("/api/agents", listing)
    app.router.add_post("/api/agents/{agent}/{action}", change)
