"""Staff groups and call-outs over HTTP (issue 16), for a tenant's admins and team:

    GET  /api/groups                      the tenant's groups
    POST /api/groups                      {"name", "description"?}
    GET  /api/groups/{id}                 the group and its members in calling order
    POST /api/groups/{id}/members         {"name", "numbers": [...], "kind"?, "pin"?, "available"?}
    PATCH  /api/groups/{id}/members/{member}  the same fields, all given again ("pin" left
                                          out keeps it, "" removes it)
    DELETE /api/groups/{id}/members/{member}  the member and their data
    GET  /api/callouts                    the tenant's call-outs, newest first
    POST /api/callouts                    {"group", "message" | "audio", "needed"?, "wait"?,
                                           "escalate_to"?, "pin"?, "language"?, "max_parallel"?,
                                           "max_attempts"?, "retry_delay"?, "ring"?, "window"?}
                                          "audio": the message as an audio file (wav, mp3, ogg,
                                          ... : what ffmpeg reads), base64; 0.1 s - 5 min, and
                                          the body at most 1 MiB
    GET  /api/callouts/{id}[?format=csv]  the report: totals and a timeline per member
    POST /api/callouts/{id}/cancel

A user of no tenant (an operator) names it with ``?tenant=slug``. 400 bad input (``errors``
names every bad field; nothing started), 401/403 the guard, 404 unknown group or call-out
(or another tenant's), 409 cancelling one that has ended.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import uuid
from typing import Any

from aiohttp import web

from ivr.callout.service import BadCallout, CalloutService, MemberInput, StartRequest, report_csv
from ivr.http.guard import Guard, Principal
from ivr.http.problems import BadInput, Clash, NotThere
from storage.domain import StaffGroupView
from storage.events import Role
from storage.repositories.callouts import CalloutRow
from storage.repositories.tenants import TenantRepository

log = logging.getLogger(__name__)

_START = {
    "group", "message", "needed", "wait", "escalate_to", "pin", "language", "max_parallel",
    "max_attempts", "retry_delay", "ring", "window", "audio",
}  # fmt: skip
_MEMBER = {"name", "numbers", "kind", "pin", "available"}
_GROUP = {"name", "description"}


async def _body(request: web.Request, allowed: set[str]) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadInput("the body must be a JSON object", errors={"body": "not JSON"}) from None
    if not isinstance(body, dict):
        raise BadInput("the body must be a JSON object", errors={"body": "not an object"})
    unknown = {str(k)[:40]: "unknown field" for k in sorted(set(body) - allowed)}
    if unknown:
        raise BadInput("the request has invalid fields", errors=unknown)
    return body


def _typed(body: dict[str, Any], types: dict[str, type | tuple[type, ...]]) -> None:
    errors = {}
    for key, kind in types.items():
        value = body.get(key)
        if value is not None and (
            not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)
        ):
            errors[key] = "wrong type"
    if errors:
        raise BadInput("the request has invalid fields", errors=errors)


def _audio(raw: str | None) -> bytes | None:
    """The uploaded message's bytes (the service checks they are audio)."""
    if raw is None:
        return None
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise BadInput(
            "the request has invalid fields", errors={"audio": "base64 of an audio file"}
        ) from None


def _bad(exc: BadCallout) -> BadInput:
    return BadInput("the request has invalid fields", errors=exc.errors)


async def tenant_group(
    service: CalloutService, request: web.Request, who: Principal
) -> StaffGroupView:
    """The group the URL's ``{id}`` names, of the user's tenant; NotThere otherwise (also for
    another tenant's group: its existence is not told)."""
    try:
        group_id = uuid.UUID(request.match_info["id"])
    except ValueError:
        raise NotThere("no such group") from None
    for g in await service.groups.groups(who.tenant()):
        if g.id == group_id:
            return g
    raise NotThere("no such group")


async def tenant_callout(
    service: CalloutService, request: web.Request, who: Principal
) -> CalloutRow:
    """The call-out the URL's ``{id}`` names, of the user's tenant; NotThere otherwise (a
    malformed id and another tenant's call-out alike)."""
    try:
        return await service.find(request.match_info["id"], who.tenant())
    except BadCallout:
        raise NotThere("no such call-out") from None


def add_routes(
    app: web.Application, service: CalloutService, tenants: TenantRepository, guard: Guard
) -> None:
    who_may = guard.requires(Role.ADMIN, Role.TEAM, tenant_param="tenant")

    async def group_of(request: web.Request, who: Principal) -> StaffGroupView:
        return await tenant_group(service, request, who)

    @who_may
    async def list_groups(request: web.Request, who: Principal) -> web.StreamResponse:
        groups = await service.groups.groups(who.tenant())
        return web.json_response(
            [{"id": str(g.id), "name": g.name, "description": g.description} for g in groups]
        )

    @who_may
    async def create_group(request: web.Request, who: Principal) -> web.StreamResponse:
        body = await _body(request, _GROUP)
        _typed(body, {"name": str, "description": str})
        tenant = await tenants.get(who.tenant())
        try:
            g = await service.create_group(
                tenant, body.get("name") or "", body.get("description") or ""
            )
        except BadCallout as exc:
            raise _bad(exc) from None
        log.info("[group %s] created by %s", g.id, who.login)
        return web.json_response({"id": str(g.id), "name": g.name}, status=201)

    @who_may
    async def show_group(request: web.Request, who: Principal) -> web.StreamResponse:
        g = await group_of(request, who)
        members = await service.groups.members(g.id)
        return web.json_response(
            {
                "id": str(g.id),
                "name": g.name,
                "members": [
                    {
                        "id": str(m.id),
                        "position": m.position,
                        "name": m.name,
                        "kind": m.kind,
                        "numbers": list(m.numbers),
                        "pin": m.has_pin,
                        "available": m.available,
                    }
                    for m in members
                ],
            }
        )

    @who_may
    async def add_member(request: web.Request, who: Principal) -> web.StreamResponse:
        g = await group_of(request, who)
        body = await _body(request, _MEMBER)
        try:
            m = await service.add_member(g, member_input(body))
        except BadCallout as exc:
            raise _bad(exc) from None
        log.info("[group %s] member %s added by %s", g.id, m.id, who.login)
        return web.json_response({"id": str(m.id), "position": m.position}, status=201)

    def member_input(body: dict[str, Any]) -> MemberInput:
        _typed(body, {"name": str, "numbers": list, "kind": str, "pin": str, "available": bool})
        numbers = body.get("numbers") or []
        if not all(isinstance(n, str) for n in numbers):
            raise BadInput("the request has invalid fields", errors={"numbers": "strings"})
        return MemberInput(
            name=body.get("name") or "",
            numbers=numbers,
            kind=body.get("kind") or "staff",
            pin=body.get("pin"),
            available=body.get("available", True),
        )

    def member_id_of(request: web.Request) -> uuid.UUID:
        try:
            return uuid.UUID(request.match_info["member"])
        except ValueError:
            raise NotThere("no such member") from None

    @who_may
    async def update_member(request: web.Request, who: Principal) -> web.StreamResponse:
        g = await group_of(request, who)
        member_id = member_id_of(request)
        body = await _body(request, _MEMBER)
        try:
            m = await service.update_member(g, member_id, member_input(body))
        except BadCallout as exc:
            raise _bad(exc) from None
        log.info("[group %s] member %s changed by %s", g.id, m.id, who.login)
        return web.json_response({"id": str(m.id), "position": m.position})

    @who_may
    async def remove_member(request: web.Request, who: Principal) -> web.StreamResponse:
        g = await group_of(request, who)
        member_id = member_id_of(request)
        await service.remove_member(g, member_id)
        log.info("[group %s] member %s removed by %s", g.id, member_id, who.login)
        return web.Response(status=204)

    @who_may
    async def list_callouts(request: web.Request, who: Principal) -> web.StreamResponse:
        rows = await service.callouts.of_tenant(who.tenant())
        return web.json_response(
            [
                {
                    "id": str(c.id),
                    "status": c.status,
                    "started_at": c.started_at.isoformat(),
                    "needed": c.needed,
                }
                for c in rows
            ]
        )

    @who_may
    async def start(request: web.Request, who: Principal) -> web.StreamResponse:
        body = await _body(request, _START)
        _typed(
            body,
            {
                "group": str, "message": str, "needed": int, "wait": (str, int, float),
                "escalate_to": str, "pin": bool, "language": str, "max_parallel": int,
                "max_attempts": int, "retry_delay": (str, int, float), "ring": (str, int, float),
                "window": (str, int, float), "audio": str,
            },
        )  # fmt: skip
        audio = _audio(body.get("audio"))
        tenant = await tenants.get(who.tenant())
        try:
            callout_id = await service.start(
                StartRequest(
                    tenant=tenant.slug,
                    group=body.get("group") or "",
                    message=body.get("message") or "",
                    needed=body.get("needed", 1),
                    wait=body.get("wait", "10m"),
                    escalate_to=body.get("escalate_to"),
                    pin=bool(body.get("pin", False)),
                    language=body.get("language"),
                    by=who.login,
                    max_parallel=body.get("max_parallel"),
                    max_attempts=body.get("max_attempts"),
                    retry_delay=body.get("retry_delay"),
                    ring=body.get("ring"),
                    window=body.get("window"),
                    audio=audio,
                )
            )
        except BadCallout as exc:
            raise _bad(exc) from None
        log.info("[callout %s] started by %s", callout_id, who.login)
        return web.json_response({"id": str(callout_id)}, status=201)

    @who_may
    async def report(request: web.Request, who: Principal) -> web.StreamResponse:
        c = await tenant_callout(service, request, who)
        r = await service.report(c)
        if request.query.get("format") == "csv":
            return web.Response(text=report_csv(r), content_type="text/csv")
        return web.json_response(r)

    @who_may
    async def cancel(request: web.Request, who: Principal) -> web.StreamResponse:
        c = await tenant_callout(service, request, who)
        if not await service.cancel(c.id):
            raise Clash(f"the call-out has ended ({c.status})")
        log.info("[callout %s] cancelled by %s", c.id, who.login)
        return web.json_response({"id": str(c.id), "status": "cancelled"})

    app.router.add_get("/api/groups", list_groups)
    app.router.add_post("/api/groups", create_group)
    app.router.add_get("/api/groups/{id}", show_group)
    app.router.add_post("/api/groups/{id}/members", add_member)
    app.router.add_patch("/api/groups/{id}/members/{member}", update_member)
    app.router.add_delete("/api/groups/{id}/members/{member}", remove_member)
    app.router.add_get("/api/callouts", list_callouts)
    app.router.add_post("/api/callouts", start)
    app.router.add_get("/api/callouts/{id}", report)
    app.router.add_post("/api/callouts/{id}/cancel", cancel)
