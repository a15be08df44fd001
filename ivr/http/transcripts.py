"""Transcripts over HTTP (issue 18): list them, and read one (logged like listening).

    GET /api/transcripts?tenant=&since=&limit=&before=   newest first, metadata only
    GET /api/transcripts/{id}                            one transcript with its text

Listing: admin and team users of the tenant, and platform operators (``tenant=``): no text
in the list. Reading a text: admin and team users of the owning tenant only (the people who
may listen to the audio); each read is a listening event of type ``transcript`` committed
before the text is sent (if it cannot be, 503 and no text). Texts are stored redacted.

400 bad id or parameter; 401 no or bad credentials; 403 not allowed; 404 unknown (or
deleted by retention or erasure); 503 database down. Errors are problem+json.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from aiohttp import web

from ivr.http.guard import Guard, Principal
from ivr.http.problems import BadInput, NotAllowed, NotThere
from ivr.http.query import parse_time
from recording.listen import may_listen
from storage.errors import NotFound
from storage.events import ListenKind, Role
from storage.ports import ListenRecorder
from storage.repositories.transcripts import TranscriptRepository, TranscriptView

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_LIST_PARAMS = frozenset({"tenant", "since", "limit", "before"})


def transcript_json(t: TranscriptView, *, with_text: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(t.id),
        "case_id": str(t.case_id),
        "recording_id": None if t.recording_id is None else str(t.recording_id),
        "voice_message_id": None if t.voice_message_id is None else str(t.voice_message_id),
        "created_at": t.created_at.isoformat(),
        "language": t.language,
        "language_detected": t.language_detected,
        "engine": t.engine,
        "model_sha256": t.model_sha256,
        "confidence": t.confidence,
        "audio_seconds": t.audio_seconds,
        "redactions": t.redactions,
        "link": f"/api/transcripts/{t.id}",
    }
    if with_text:
        body["text"] = t.text
    return body


def _parse_id(text: str) -> uuid.UUID:
    try:
        value = uuid.UUID(text)
    except ValueError:
        raise BadInput("not a transcript id", errors={"id": "must be a UUID"}) from None
    if str(value) != text.lower():
        raise BadInput("not a transcript id", errors={"id": "must be a UUID"})
    return value


def _list_params(query: Any) -> tuple[datetime | None, tuple[datetime, uuid.UUID] | None, int]:
    errors: dict[str, str] = {}
    for key in query:
        if key not in _LIST_PARAMS:
            errors[str(key)[:40]] = "unknown parameter"
    since = before = None
    limit = DEFAULT_LIMIT
    try:
        if "since" in query:
            since = parse_time(query["since"])
    except ValueError:
        errors["since"] = "an ISO 8601 time with a UTC offset"
    if "limit" in query:
        text = query["limit"]
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
            errors["limit"] = f"1..{MAX_LIMIT}"
        else:
            limit = int(text)
    if "before" in query:
        at, _, tid = query["before"].partition("_")
        try:
            before = (parse_time(at), uuid.UUID(tid))
        except ValueError:
            errors["before"] = "the cursor of a previous page"
    if errors:
        raise BadInput("the query has invalid parameters", errors=errors)
    return since, before, limit


def add_routes(
    app: web.Application,
    transcripts: TranscriptRepository,
    listening: ListenRecorder,
    guard: Guard,
) -> None:
    @guard.requires(Role.ADMIN, Role.TEAM, tenant_param="tenant")
    async def list_transcripts(request: web.Request, who: Principal) -> web.StreamResponse:
        since, before, limit = _list_params(request.query)
        items = await transcripts.page(who.tenant(), since=since, before=before, limit=limit)
        nxt = None
        if len(items) == limit:
            last = items[-1]
            nxt = f"{last.created_at.isoformat()}_{last.id}"
        log.info("user %s listed %d transcript(s)", who.login, len(items))
        return web.json_response(
            {"items": [transcript_json(t, with_text=False) for t in items], "before": nxt},
            headers={"Cache-Control": "no-store"},
        )

    @guard.requires(Role.ADMIN, Role.TEAM)
    async def one_transcript(request: web.Request, who: Principal) -> web.StreamResponse:
        tid = _parse_id(request.match_info["id"])
        if request.query:
            raise BadInput("no parameters here", errors={k[:40]: "unknown" for k in request.query})
        try:
            t = await transcripts.get(tid)
        except NotFound:
            raise NotThere(f"no transcript {tid}") from None
        who.scope(t.tenant_id)
        if not may_listen(who.user, t.tenant_id):
            raise NotAllowed("only admin and team users of the tenant read transcripts")
        link = f"/api/transcripts/{t.id}"
        await listening.record(
            user_id=who.user.id,
            case_id=t.case_id,
            kind=ListenKind.TRANSCRIPT,
            link=link,
            recording_id=t.recording_id,
            voice_message_id=t.voice_message_id,
        )
        log.info("[case %s] user %s read transcript %s", t.case_id, who.login, t.id)
        return web.json_response(
            transcript_json(t, with_text=True), headers={"Cache-Control": "no-store"}
        )

    app.router.add_get("/api/transcripts", list_transcripts, allow_head=False)
    app.router.add_get("/api/transcripts/{id}", one_transcript, allow_head=False)
