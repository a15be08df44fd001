"""Data-subject rights over HTTP, for admins only (the guard: HTTP Basic against Linja users):

    POST /api/subjects/export      {"tenant": slug, "phone": N | "email": E}
    POST /api/subjects/erase       {"tenant": ..., "phone" | "email", "ref": ticket?}
    POST /api/subjects/restrict    {"tenant": ..., "phone" | "email", "reason": text?}
    POST /api/subjects/unrestrict  {"tenant": ..., "phone" | "email"}

The export answers with the bundle's ``subject.json`` document, where the bundle (with
the audio files) was written on the server and when it expires (``expires_at``: the sweep
deletes it then, ``LINJA_EXPORT_TTL``; an erasure of the person deletes it at once).
Personal data goes in the request body, never in the URL. 400 bad input (``errors`` names
every bad field), 401 no or wrong credentials, 403 not an admin, or an admin of another
tenant; 404 unknown tenant or no active restriction to lift, 503 the database is down.
Errors are problem+json bodies (:mod:`ivr.http.edge`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web

from ivr.http.guard import Guard, Principal
from ivr.http.problems import BadInput, NotThere
from retention.bundles import ExportBundles
from retention.errors import BadSubject
from retention.rights import SubjectRights, subject_of
from storage.contacts import Subject
from storage.domain import TenantInfo, UserInfo
from storage.events import Role

log = logging.getLogger(__name__)

_FIELDS = {
    "export": {"tenant", "phone", "email"},
    "erase": {"tenant", "phone", "email", "ref"},
    "restrict": {"tenant", "phone", "email", "reason"},
    "unrestrict": {"tenant", "phone", "email"},
}
_LIMITS = {"tenant": 64, "phone": 40, "email": 320, "ref": 200, "reason": 500}


def _texts(body: dict[str, Any], allowed: set[str]) -> tuple[dict[str, str | None], dict[str, str]]:
    """The body's text fields (stripped, None when absent or blank) and every bad field."""
    errors = {k[:40]: "unknown field" for k in sorted(set(body) - allowed)}
    values: dict[str, str | None] = {}
    for key in sorted(allowed):
        value = body.get(key)
        limit = _LIMITS[key]
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            errors[key] = f"must be a string of at most {limit} characters"
            value = None
        values[key] = (value.strip() or None) if isinstance(value, str) else None
    return values, errors


def _subject(phone: str | None, email: str | None, errors: dict[str, str]) -> Subject | None:
    for key, one in (("phone", (phone, None)), ("email", (None, email))):
        if one[0] or one[1]:
            try:
                subject_of(*one)
            except BadSubject as exc:
                errors[key] = str(exc)
    if phone is None and email is None and "phone" not in errors and "email" not in errors:
        errors["phone"] = errors["email"] = "give a phone number or an e-mail address"
    return None if errors else subject_of(phone, email)


def add_routes(
    app: web.Application, rights: SubjectRights, guard: Guard, bundles: ExportBundles
) -> None:
    async def parse(
        request: web.Request, action: str, who: Principal
    ) -> tuple[TenantInfo, Subject, dict[str, str | None]]:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BadInput("the body must be a JSON object", errors={"body": "not JSON"}) from None
        if not isinstance(body, dict):
            raise BadInput("the body must be a JSON object", errors={"body": "not an object"})
        values, errors = _texts(body, _FIELDS[action])
        slug = values["tenant"]
        if slug is None and "tenant" not in errors:
            errors["tenant"] = "required"
        subject = _subject(values["phone"], values["email"], errors)
        if errors or subject is None or slug is None:
            raise BadInput("the request has invalid fields", errors=errors)
        try:
            tenant = await rights.tenant(slug)
        except BadSubject:
            raise NotThere(f"no tenant {slug!r}") from None
        who.scope(tenant.id)
        return tenant, subject, values

    def handler(action: str) -> Any:
        @guard.requires(Role.ADMIN)
        async def handle(request: web.Request, who: Principal) -> web.StreamResponse:
            tenant, subject, values = await parse(request, action, who)
            result = await run(action, who.user, tenant, subject, values)
            log.info("[subject %s] %s by %s", tenant.slug, action, who.login)
            return web.json_response(result)

        return handle

    async def run(
        action: str,
        user: UserInfo,
        tenant: TenantInfo,
        subject: Subject,
        values: dict[str, str | None],
    ) -> dict[str, Any]:
        if action == "export":
            res = await rights.export(tenant, subject, bundles.root, user)
            raw = await asyncio.to_thread((res.bundle / "subject.json").read_text, "utf-8")
            expires = await asyncio.to_thread(bundles.expires_at, res.bundle)
            return {
                "bundle": str(res.bundle),
                "expires_at": expires.isoformat(),
                "audio_files": res.audio_files,
                "subject": json.loads(raw),
            }
        if action == "erase":
            er = await rights.erase(tenant, subject, user, request_ref=values.get("ref"))
            return {
                "ledger_id": str(er.ledger.id),
                "counts": er.ledger.counts,
                "files_deleted": er.files_deleted,
                "copies_deleted": er.copies_deleted,
                "bundles_deleted": er.bundles_deleted,
            }
        if action == "restrict":
            rr = await rights.restrict(tenant, subject, user, reason=values.get("reason"))
            return {"restriction_id": str(rr.restriction.id), "cases_marked": rr.cases_marked}
        return {"lifted": await rights.lift(tenant, subject, user)}

    bundles.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    for action in _FIELDS:
        app.router.add_post(f"/api/subjects/{action}", handler(action))
