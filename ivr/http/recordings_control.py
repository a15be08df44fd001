"""Pause and resume a live call recording over HTTP (e.g. while a card number is read).

``POST /api/calls/{case_id}/recording/pause``, ``.../resume``, ``GET
/api/calls/{case_id}/recording`` and ``GET /api/recordings/live`` (the live ones).

HTTP Basic auth against Linja users: ``admin`` and ``team`` users of the recording's tenant
(an admin without a tenant: any); ``external`` users never. Answers: 200 with the
recording's state (its pauses so far), 400 for a malformed case id, 401/403, 404 when the
case has no live recording (or it belongs to another tenant), 409 for pause-while-paused or
resume-while-running, 502 when Asterisk refused, 503 when users cannot be checked.
"""

from __future__ import annotations

import logging
import uuid

from aiohttp import web

from ivr.ari.errors import AriError
from ivr.http.auth import CHALLENGE, Authenticator, authenticated_user
from recording.bridge import BridgeRecording, LiveRecordings
from recording.errors import NotRecording, PauseConflict
from storage.domain import UserInfo
from storage.errors import StorageError
from storage.events import Role

log = logging.getLogger(__name__)

ACTIONS = ("pause", "resume")


def add_routes(app: web.Application, live: LiveRecordings, users: Authenticator) -> None:
    async def require_user(request: web.Request) -> UserInfo:
        try:
            user = await authenticated_user(request, users)
        except StorageError:
            raise web.HTTPServiceUnavailable(text="user directory unavailable") from None
        if user is None:
            raise web.HTTPUnauthorized(headers=CHALLENGE)
        if user.role not in (Role.ADMIN, Role.TEAM):
            raise web.HTTPForbidden(text="not allowed to control recordings")
        return user

    def case_id_of(request: web.Request) -> uuid.UUID:
        try:
            return uuid.UUID(request.match_info["case_id"])
        except ValueError:
            raise web.HTTPBadRequest(text="case id is not a UUID") from None

    def live_for(user: UserInfo, case_id: uuid.UUID) -> BridgeRecording:
        try:
            rec = live.get(case_id)
        except NotRecording as exc:
            raise web.HTTPNotFound(text=str(exc)) from None
        if user.tenant_id is not None and user.tenant_id != rec.tenant_id:
            raise web.HTTPNotFound(text=f"case {case_id} has no live recording")
        return rec

    async def state(request: web.Request) -> web.Response:
        user = await require_user(request)
        return web.json_response(live_for(user, case_id_of(request)).describe())

    async def control(request: web.Request) -> web.Response:
        action = request.match_info["action"]
        if action not in ACTIONS:
            raise web.HTTPNotFound(text=f"unknown action {action!r}")
        user = await require_user(request)
        case_id = case_id_of(request)
        live_for(user, case_id)
        try:
            rec = await (live.pause(case_id) if action == "pause" else live.resume(case_id))
        except NotRecording as exc:
            raise web.HTTPNotFound(text=str(exc)) from None
        except PauseConflict as exc:
            raise web.HTTPConflict(text=str(exc)) from None
        except AriError as exc:
            log.error("[%s] recording %s failed: %s", case_id, action, exc)
            raise web.HTTPBadGateway(text=f"Asterisk refused to {action} the recording") from None
        log.info("[%s] recording %s by %s", case_id, action, user.login)
        return web.json_response(rec.describe())

    async def listing(request: web.Request) -> web.Response:
        user = await require_user(request)
        mine = [
            r.describe()
            for r in live.all()
            if user.tenant_id is None or user.tenant_id == r.tenant_id
        ]
        return web.json_response(mine)

    app.router.add_get("/api/recordings/live", listing)
    app.router.add_get("/api/calls/{case_id}/recording", state)
    app.router.add_post("/api/calls/{case_id}/recording/{action}", control)
