"""Data-subject rights over HTTP, for admins only (HTTP Basic against Linja users):

    POST /api/subjects/export      {"tenant": slug, "phone": N | "email": E}
    POST /api/subjects/erase       {"tenant": ..., "phone" | "email", "ref": ticket?}
    POST /api/subjects/restrict    {"tenant": ..., "phone" | "email", "reason": text?}
    POST /api/subjects/unrestrict  {"tenant": ..., "phone" | "email"}

The export answers with the bundle's ``subject.json`` document and where the bundle (with
the audio files) was written on the server. Personal data goes in the request body, never
in the URL. 400 bad input, 401 no or wrong credentials, 403 not an admin, 404 unknown
tenant or no active restriction to lift, 503 the database is down.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from ivr.http.auth import CHALLENGE, Authenticator, authenticated_user
from retention.errors import BadSubject
from retention.rights import SubjectRights, subject_of
from storage.contacts import Subject
from storage.domain import TenantInfo, UserInfo
from storage.errors import NotFound, StorageError, StorageUnavailable
from storage.events import Role

log = logging.getLogger(__name__)

_FIELDS = {
    "export": {"tenant", "phone", "email"},
    "erase": {"tenant", "phone", "email", "ref"},
    "restrict": {"tenant", "phone", "email", "reason"},
    "unrestrict": {"tenant", "phone", "email"},
}


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def _text(body: dict[str, Any], key: str, limit: int) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise _bad(f"{key} must be a string of at most {limit} characters")
    return value.strip() or None


def add_routes(
    app: web.Application, rights: SubjectRights, users: Authenticator, export_dir: Path
) -> None:
    async def admin(request: web.Request) -> UserInfo:
        user = await authenticated_user(request, users)
        if user is None:
            raise web.HTTPUnauthorized(headers=CHALLENGE)
        if user.role != Role.ADMIN:
            raise web.HTTPForbidden(text="admins only")
        return user

    async def parse(
        request: web.Request, action: str
    ) -> tuple[TenantInfo, Subject, dict[str, Any]]:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise _bad("the body must be a JSON object") from None
        if not isinstance(body, dict):
            raise _bad("the body must be a JSON object")
        unknown = set(body) - _FIELDS[action]
        if unknown:
            raise _bad(f"unknown fields: {', '.join(sorted(unknown))}")
        slug = _text(body, "tenant", 64)
        if slug is None:
            raise _bad("tenant is required")
        try:
            subject = subject_of(_text(body, "phone", 40), _text(body, "email", 320))
            tenant = await rights.tenant(slug)
        except BadSubject as exc:
            if "no tenant" in str(exc):
                raise web.HTTPNotFound(text=str(exc)) from None
            raise _bad(str(exc)) from None
        return tenant, subject, body

    def handler(action: str) -> Any:
        async def handle(request: web.Request) -> web.Response:
            user = await admin(request)
            tenant, subject, body = await parse(request, action)
            try:
                result = await run(action, user, tenant, subject, body)
            except NotFound as exc:
                raise web.HTTPNotFound(text=str(exc)) from None
            except StorageUnavailable:
                raise web.HTTPServiceUnavailable(text="database unavailable") from None
            except StorageError as exc:
                log.error("[subject %s] %s failed: %s", tenant.slug, action, exc)
                raise web.HTTPInternalServerError(text=f"{action} failed") from None
            log.info("[subject %s] %s by %s", tenant.slug, action, user.login)
            return web.json_response(result)

        return handle

    async def run(
        action: str, user: UserInfo, tenant: TenantInfo, subject: Subject, body: dict[str, Any]
    ) -> dict[str, Any]:
        if action == "export":
            res = await rights.export(tenant, subject, export_dir, user)
            raw = await asyncio.to_thread((res.bundle / "subject.json").read_text, "utf-8")
            document = json.loads(raw)
            return {"bundle": str(res.bundle), "audio_files": res.audio_files, "subject": document}
        if action == "erase":
            er = await rights.erase(tenant, subject, user, request_ref=_text(body, "ref", 200))
            return {
                "ledger_id": str(er.ledger.id),
                "counts": er.ledger.counts,
                "files_deleted": er.files_deleted,
            }
        if action == "restrict":
            rr = await rights.restrict(tenant, subject, user, reason=_text(body, "reason", 500))
            return {"restriction_id": str(rr.restriction.id), "cases_marked": rr.cases_marked}
        return {"lifted": await rights.lift(tenant, subject, user)}

    export_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for action in _FIELDS:
        app.router.add_post(f"/api/subjects/{action}", handler(action))
