"""Agent state over HTTP: `POST /api/agents/{login}/{login|logout|pause|unpause}` and
`GET /api/agents`. HTTP Basic auth against Linja users: an agent may change their own state,
an `admin` user any agent's; `external` users never."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from ivr.callcenter.coordinator import QueueCoordinator
from ivr.callcenter.errors import IllegalTransition
from ivr.http.auth import CHALLENGE, Authenticator, authenticated_user
from storage.domain import UserInfo
from storage.events import Role

log = logging.getLogger(__name__)

ACTIONS = ("login", "logout", "pause", "unpause")


def add_routes(
    app: web.Application,
    coordinator: QueueCoordinator,
    users: Authenticator,
    known_agents: Callable[[], set[str]],
) -> None:
    async def require_user(request: web.Request) -> UserInfo:
        user = await authenticated_user(request, users)
        if user is None:
            raise web.HTTPUnauthorized(headers=CHALLENGE)
        return user

    async def change(request: web.Request) -> web.Response:
        agent, action = request.match_info["agent"], request.match_info["action"]
        if action not in ACTIONS:
            raise web.HTTPNotFound(text=f"unknown action {action!r}")
        user = await require_user(request)
        if user.role == Role.EXTERNAL or (user.role != Role.ADMIN and user.login != agent):
            raise web.HTTPForbidden(text="not allowed to change this agent")
        if agent not in known_agents():
            raise web.HTTPNotFound(text=f"unknown agent {agent!r}")
        try:
            if action == "pause":
                state = coordinator.pause(agent, request.query.get("reason", ""))
            else:
                state = getattr(coordinator, action)(agent)
        except IllegalTransition as exc:
            raise web.HTTPConflict(text=str(exc)) from None
        log.info("agent %s: %s by %s", agent, action, user.login)
        await coordinator.flush_agents()
        return web.json_response(state.to_dict())

    async def listing(request: web.Request) -> web.Response:
        await require_user(request)
        return web.json_response(coordinator.engine.board.snapshot())

    app.router.add_get("/api/agents", listing)
    app.router.add_post("/api/agents/{agent}/{action}", change)
