"""Bulletins over HTTP, for the console (the CLI's ``linja bulletin set | clear`` as an API).

Behind the guard; changes by ``admin`` users of the number's tenant (an operator: any),
reading by ``admin`` and ``team``::

    POST /api/bulletins/{number}              {"text"?, "audio"? (base64 of a wav/mp3/ogg
         file), "language": fi|sv|en, "starts_at"?, "ends_at"?}  201 the new bulletin
    POST /api/bulletins/{number}/{id}/end     end it now (kept as history)
    POST /api/bulletins/preview               {"text", "language"}: the spoken text (audio/wav)
    GET  /api/bulletins/{number}/fallback     what the dialplan plays while the controller is
                                              down (audio/wav)
    GET  /api/bulletins/{number}/{id}/audio   what a bulletin plays (audio/wav)

Times are ISO 8601; a time without an offset is the tenant's local time (as in the CLI). Bad
input (empty text and no audio, unreadable audio, an unknown language, an end not after the
start or already past) is a 400 naming each field, and nothing changes. Changes are audited
(``bulletin.add``, ``bulletin.end``).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from ivr import audio
from ivr.bulletins.service import BulletinService
from ivr.bulletins.state import NumberState
from ivr.clock import Clock
from ivr.http.contacts import read_body
from ivr.http.guard import Guard, Principal
from ivr.http.problems import BadInput, NotThere, TenantRefused
from storage.domain import Actor, TenantInfo
from storage.events import Role
from storage.ports import AuditAppender
from storage.repositories.bulletins import BulletinRepository

log = logging.getLogger(__name__)

LANGUAGES = ("fi", "sv", "en")
MAX_TEXT = 2000
MAX_BODY = 12 * 1024 * 1024  # base64 of the CLI's 8 MiB-ish audio files
TenantOf = Callable[[uuid.UUID], Awaitable[TenantInfo | None]]


@dataclass(frozen=True)
class NewBulletin:
    language: str
    text: str | None
    audio: bytes | None
    starts_at: datetime
    ends_at: datetime | None


def _time(value: Any, zone: tzinfo) -> datetime:
    if not isinstance(value, str):
        raise ValueError("an ISO 8601 time such as 2026-12-01T08:00")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("an ISO 8601 time such as 2026-12-01T08:00") from None
    return parsed.replace(tzinfo=zone) if parsed.utcoffset() is None else parsed


def parse_new_bulletin(body: Mapping[str, Any], zone: tzinfo, now: datetime) -> NewBulletin:
    """The bulletin a ``POST /api/bulletins/{number}`` asks for; BadInput naming each field."""
    errors: dict[str, str] = {}
    for key in body:
        if key not in ("text", "audio", "language", "starts_at", "ends_at"):
            errors[str(key)[:40]] = "unknown field"
    language = body.get("language", "fi")
    if language not in LANGUAGES:
        errors["language"] = "one of " + ", ".join(LANGUAGES)
    text = body.get("text")
    if text is not None and (not isinstance(text, str) or len(text) > MAX_TEXT):
        errors["text"] = f"a text of at most {MAX_TEXT} characters"
        text = None
    text = text.strip() if isinstance(text, str) and text.strip() else None
    sound = None
    raw = body.get("audio")
    if raw not in (None, ""):
        try:
            if not isinstance(raw, str):
                raise ValueError("base64 of an audio file")
            sound = audio.to_asterisk_wav(base64.b64decode(raw, validate=True))
        except (binascii.Error, ValueError, audio.AudioError) as exc:
            errors["audio"] = f"not readable audio ({exc})"[:200]
    if text is None and sound is None and "audio" not in errors and "text" not in errors:
        errors["text"] = "give a text or an audio file"
    starts = now
    ends = None
    for key in ("starts_at", "ends_at"):
        value = body.get(key)
        if value in (None, ""):
            continue
        try:
            when = _time(value, zone)
        except ValueError as exc:
            errors[key] = str(exc)
            continue
        if key == "starts_at":
            starts = when
        else:
            ends = when
    if ends is not None and "ends_at" not in errors:
        if ends <= starts:
            errors["ends_at"] = "must be after the start"
        elif ends <= now:
            errors["ends_at"] = "is already in the past"
    if errors:
        raise BadInput("the bulletin has invalid fields", errors=errors)
    return NewBulletin(language, text, sound, starts, ends)


def wav(path: Path) -> web.StreamResponse:
    if not path.is_file():
        raise NotThere("no such audio")
    return web.FileResponse(
        path, headers={"Content-Type": "audio/wav", "Cache-Control": "no-store"}
    )


def add_routes(
    app: web.Application,
    service: BulletinService,
    repo: BulletinRepository,
    tenant_of: TenantOf,
    audit: AuditAppender,
    clock: Clock,
    guard: Guard,
) -> None:
    async def number_of(who: Principal, number: str) -> NumberState:
        state = service.state(number[:64])
        if state is None:
            raise NotThere(f"no bulletin number {number[:64]!r}")
        tenant = None if who.tenant_id is None else await tenant_of(who.tenant_id)
        if who.tenant_id is not None and (tenant is None or tenant.slug != state.tenant):
            raise TenantRefused("not a number of this tenant")
        return state

    async def zone_of(who: Principal) -> ZoneInfo:
        tenant = None if who.tenant_id is None else await tenant_of(who.tenant_id)
        return ZoneInfo(tenant.time_zone if tenant is not None else "Europe/Helsinki")

    async def body_of(request: web.Request) -> dict[str, Any]:
        try:
            body = json.loads(await read_body(request, MAX_BODY))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BadInput("the body must be a JSON object", errors={"body": "not JSON"}) from None
        if not isinstance(body, dict):
            raise BadInput("the body must be a JSON object", errors={"body": "not an object"})
        return body

    @guard.requires(Role.ADMIN)
    async def add(request: web.Request, who: Principal) -> web.StreamResponse:
        state = await number_of(who, request.match_info["number"])
        new = parse_new_bulletin(await body_of(request), await zone_of(who), clock())
        view = await repo.add(
            number=state.number, language=new.language, text_=new.text, audio=new.audio,
            starts_at=new.starts_at, ends_at=new.ends_at,
        )  # fmt: skip
        await audit.append(
            "bulletin.add", Actor.user(who.user), tenant_id=who.tenant_id, target_type="bulletin",
            target_id=str(view.id),
            details={"number": state.number, "audio": new.audio is not None},
        )  # fmt: skip
        service.notify_changed()
        log.info("bulletin %s added on %s by %s", view.id, state.number, who.login)
        return web.json_response(
            {
                "id": str(view.id), "number": view.number, "language": view.language,
                "starts_at": view.starts_at.isoformat(),
                "ends_at": None if view.ends_at is None else view.ends_at.isoformat(),
            },
            status=201,
        )  # fmt: skip

    @guard.requires(Role.ADMIN)
    async def end(request: web.Request, who: Principal) -> web.StreamResponse:
        state = await number_of(who, request.match_info["number"])
        try:
            bulletin_id = uuid.UUID(request.match_info["id"])
        except ValueError:
            raise NotThere("no such bulletin") from None
        ended = await repo.clear(number=state.number, now=clock(), bulletin_id=bulletin_id)
        if ended == 0:
            raise NotThere(f"no current or upcoming bulletin {bulletin_id} on {state.number}")
        await audit.append(
            "bulletin.end", Actor.user(who.user), tenant_id=who.tenant_id, target_type="bulletin",
            target_id=str(bulletin_id), details={"number": state.number},
        )  # fmt: skip
        service.notify_changed()
        log.info("bulletin %s on %s ended by %s", bulletin_id, state.number, who.login)
        return web.json_response({"ended": ended})

    @guard.requires(Role.ADMIN)
    async def preview(request: web.Request, who: Principal) -> web.StreamResponse:
        body = await body_of(request)
        errors = {}
        text = body.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            errors["text"] = f"a text of 1 to {MAX_TEXT} characters"
        language = body.get("language", "fi")
        if language not in LANGUAGES:
            errors["language"] = "one of " + ", ".join(LANGUAGES)
        if errors:
            raise BadInput("the preview has invalid fields", errors=errors)
        assert isinstance(text, str)
        log.info("bulletin preview of %d characters for %s", len(text), who.login)
        return wav(await service.preview(text.strip(), str(language)))

    @guard.requires(Role.ADMIN, Role.TEAM)
    async def fallback(request: web.Request, who: Principal) -> web.StreamResponse:
        state = await number_of(who, request.match_info["number"])
        return wav(service.fallback_file(state.number))

    @guard.requires(Role.ADMIN, Role.TEAM)
    async def bulletin_audio(request: web.Request, who: Principal) -> web.StreamResponse:
        state = await number_of(who, request.match_info["number"])
        wanted = request.match_info["id"]
        for p in (*state.bulletins, state.no_disruptions):
            if str(p.bulletin_id) == wanted:
                return wav(service.wav_of(p))
        raise NotThere("no such current or upcoming bulletin")

    app.router.add_post("/api/bulletins/preview", preview)
    app.router.add_post("/api/bulletins/{number}", add)
    app.router.add_post("/api/bulletins/{number}/{id}/end", end)
    app.router.add_get("/api/bulletins/{number}/fallback", fallback, allow_head=False)
    app.router.add_get("/api/bulletins/{number}/{id}/audio", bulletin_audio, allow_head=False)
