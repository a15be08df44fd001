"""Pause and resume a live call recording over HTTP (e.g. while a card number is read).

``POST /api/calls/{case_id}/recording/pause``, ``.../resume``, ``GET
/api/calls/{case_id}/recording`` and ``GET /api/recordings/live`` (the live ones).

Behind the guard (HTTP Basic against Linja users): ``admin`` and ``team`` users of the
recording's tenant (an admin without a tenant: any); ``external`` users never. Answers: 200
with the recording's state (its pauses so far), 400 for a malformed case id, 401, 403 (also a
recording of another tenant), 404 when the case has no live recording, 409 for
pause-while-paused or resume-while-running, 502 when Asterisk refused, 503 when users cannot
be checked. Errors are problem+json bodies (:mod:`ivr.http.edge`).
"""

from __future__ import annotations

import logging
import uuid

from aiohttp import web

from ivr.ari.errors import AriError
from ivr.http.edge import register
from ivr.http.guard import Guard, Principal
from ivr.http.problems import BadInput, NotThere
from recording.bridge import BridgeRecording, LiveRecordings
from recording.errors import NotRecording, PauseConflict
from storage.events import Role

log = logging.getLogger(__name__)

ACTIONS = ("pause", "resume")


def add_routes(app: web.Application, live: LiveRecordings, guard: Guard) -> None:
    register(app, NotRecording, 404, slug="not-recording")
    register(app, PauseConflict, 409, slug="pause-conflict")
    register(app, AriError, 502, slug="asterisk-refused", detail="Asterisk refused the request")
    controllers = guard.requires(Role.ADMIN, Role.TEAM)

    def case_id_of(request: web.Request) -> uuid.UUID:
        try:
            return uuid.UUID(request.match_info["case_id"])
        except ValueError:
            raise BadInput("case id is not a UUID", errors={"case_id": "not a UUID"}) from None

    def live_for(who: Principal, case_id: uuid.UUID) -> BridgeRecording:
        rec = live.get(case_id)
        who.scope(rec.tenant_id)
        return rec

    @controllers
    async def state(request: web.Request, who: Principal) -> web.StreamResponse:
        return web.json_response(live_for(who, case_id_of(request)).describe())

    @controllers
    async def control(request: web.Request, who: Principal) -> web.StreamResponse:
        action = request.match_info["action"]
        if action not in ACTIONS:
            raise NotThere(f"unknown action {action[:20]!r}")
        case_id = case_id_of(request)
        live_for(who, case_id)
        rec = await (live.pause(case_id) if action == "pause" else live.resume(case_id))
        log.info("[%s] recording %s by %s", case_id, action, who.login)
        return web.json_response(rec.describe())

    @controllers
    async def listing(_request: web.Request, who: Principal) -> web.StreamResponse:
        return web.json_response([r.describe() for r in live.all() if who.sees(r.tenant_id)])

    app.router.add_get("/api/recordings/live", listing)
    app.router.add_get("/api/calls/{case_id}/recording", state)
    app.router.add_post("/api/calls/{case_id}/recording/{action}", control)
