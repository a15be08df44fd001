"""The listening API over HTTP: metadata, play/download (with conversion) and case export.

Behind the guard (HTTP Basic against Linja users, any role); only ``admin`` and ``team`` users
of the owning tenant may listen (:mod:`recording.listen` decides, and audits a refusal).
Every audio response is sent only after its listening event is committed; if it cannot be,
the answer is 503 and no audio.

    GET  /api/recordings/{id}                      metadata (JSON)
    GET  /api/recordings/{id}/audio?format=wav|ogg|mp3&mode=play|download
    GET  /api/voice-messages/{id}                  metadata (JSON)
    GET  /api/voice-messages/{id}/audio?format=...&mode=...
    GET  /api/audio/{location}?format=...&mode=... by store location
                                                   (<tenant>/<recordings|voice_messages>/<yyyy>/<mm>/<id>.wav;
                                                   <tenant>: the tenant's slug or its UUID)
    GET  /api/cases/{case_id}/audio                the case's recordings and voice messages (JSON)
    GET  /api/cases/{case_id}/listening-events     who listened (JSON; tenant admins only)
    POST /api/cases/{case_id}/export               zip of the case's audio + metadata.json

Status codes: 400 malformed id, name or parameter; 401 no or bad credentials; 403 not allowed
(no listening event); 404 unknown; 410 deleted by retention/erasure; 416 bad Range;
422 cannot convert; 503 database (listening log) or converter unavailable. Bodies are files
streamed in chunks; ``play`` supports one HTTP byte range (``Range: bytes=a-b``). Errors are
problem+json bodies (:mod:`ivr.http.edge`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid

from aiohttp import web

from ivr.http.edge import Handler, register
from ivr.http.guard import Guard, Principal, TenantLookup
from ivr.http.problems import Problem
from recording.convert import AudioFormat
from recording.listen import (
    AccessDenied,
    AudioGone,
    AudioNotFound,
    AudioType,
    BadRequest,
    ListenError,
    ListeningService,
    ListenUnavailable,
    NotConvertible,
    Payload,
    audio_json,
    parse_id,
)
from storage.events import ListenKind

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
MODES = {"play": ListenKind.PLAY, "download": ListenKind.DOWNLOAD}
AUDIO_PARAMS = frozenset({"format", "mode"})
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

_STATUS: dict[type[ListenError], int] = {
    BadRequest: 400,
    AccessDenied: 403,
    AudioNotFound: 404,
    AudioGone: 410,
    NotConvertible: 422,
    ListenUnavailable: 503,
}
_PATHS = {AudioType.RECORDING: "recordings", AudioType.VOICE_MESSAGE: "voice-messages"}


class RangeNotSatisfiable(Exception):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single ``Range: bytes=`` request, or None for the whole file
    (no header, a multi-range or another unit: RFC 9110 lets a server ignore those).
    RangeNotSatisfiable for a range outside the file or a malformed byte range."""
    if header is None:
        return None
    header = header.strip()
    if not header.startswith("bytes=") or "," in header:
        return None
    m = _RANGE.match(header)
    if m is None or (m[1] == "" and m[2] == "") or max(len(m[1]), len(m[2])) > 18:
        raise RangeNotSatisfiable(header[:40])
    if m[1] == "":  # the last N bytes
        suffix = int(m[2])
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return max(0, size - suffix), size - 1
    first = int(m[1])
    last = size - 1 if m[2] == "" else min(int(m[2]), size - 1)
    if first >= size or first > last:
        raise RangeNotSatisfiable(header)
    return first, last


def _query(request: web.Request, allowed: frozenset[str]) -> dict[str, str]:
    """The query parameters, each at most once and all of them known; BadRequest otherwise."""
    out: dict[str, str] = {}
    for key, value in request.query.items():
        if key not in allowed:
            names = ", ".join(sorted(allowed)) or "none"
            raise BadRequest(f"unknown parameter {key[:40]!r}; allowed: {names}")
        if key in out:
            raise BadRequest(f"parameter {key!r} given twice")
        out[key] = value
    return out


def _audio_params(request: web.Request) -> tuple[AudioFormat, ListenKind]:
    q = _query(request, AUDIO_PARAMS)
    try:
        fmt = AudioFormat.parse(q.get("format", "wav"))
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    mode_name = q.get("mode", "play")
    if mode_name not in MODES:
        raise BadRequest(f"unknown mode {mode_name[:20]!r}; allowed: {', '.join(MODES)}")
    return fmt, MODES[mode_name]


def _links(kind: AudioType, audio_id: object) -> dict[str, str]:
    base = f"/api/{_PATHS[kind]}/{audio_id}/audio"
    return {"play": f"{base}?mode=play", "download": f"{base}?mode=download"}


async def send_payload(
    request: web.Request, payload: Payload, *, attachment: bool
) -> web.StreamResponse:
    """Stream a payload (its events are already committed) in chunks, honouring one Range."""
    try:
        try:
            span = parse_range(request.headers.get("Range"), payload.size)
        except RangeNotSatisfiable:
            raise Problem(
                "range not satisfiable",
                status=416,
                slug="range-not-satisfiable",
                headers={"Content-Range": f"bytes */{payload.size}"},
            ) from None
        first, last = span if span is not None else (0, payload.size - 1)
        disposition = "attachment" if attachment else "inline"
        response = web.StreamResponse(
            status=206 if span is not None else 200,
            headers={
                "Content-Type": payload.content_type,
                "Content-Disposition": f'{disposition}; filename="{payload.filename}"',
                "Accept-Ranges": "bytes",
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )
        if span is not None:
            response.headers["Content-Range"] = f"bytes {first}-{last}/{payload.size}"
        response.content_length = last - first + 1 if payload.size else 0
        await response.prepare(request)
        remaining = last - first + 1 if payload.size else 0
        payload.file.seek(first)
        while remaining > 0:
            chunk = await asyncio.to_thread(payload.file.read, min(CHUNK, remaining))
            if not chunk:
                break
            await response.write(chunk)
            remaining -= len(chunk)
        await response.write_eof()
        return response
    finally:
        payload.close()


def store_location(name: str, tenant_id: uuid.UUID | None) -> str:
    """The store location (keyed by tenant UUID) of an ``/api/audio/`` name whose first
    segment is the tenant's slug (``tenant_id``, when the slug is known) or already its UUID."""
    if tenant_id is None:
        return name
    _slug, _, rest = name.partition("/")
    return f"{tenant_id}/{rest}"


def add_routes(
    app: web.Application,
    service: ListeningService,
    guard: Guard,
    tenants: TenantLookup | None = None,
) -> None:
    for error, status in _STATUS.items():
        register(app, error, status, slug=f"listen-{error.__name__.lower()}")
    # Any role may ask: the service decides, and audits a refusal (external users included).
    guarded = guard.requires()

    def metadata(kind: AudioType) -> Handler:
        async def handler(request: web.Request, who: Principal) -> web.StreamResponse:
            audio_id = parse_id(request.match_info["id"], f"{kind.value} id")
            _query(request, frozenset())
            audio = await service.describe(kind, audio_id, who.user)
            return web.json_response({**audio_json(audio), "links": _links(kind, audio.id)})

        return guarded(handler)

    def audio(kind: AudioType) -> Handler:
        async def handler(request: web.Request, who: Principal) -> web.StreamResponse:
            audio_id = parse_id(request.match_info["id"], f"{kind.value} id")
            fmt, mode = _audio_params(request)
            payload = await service.open(
                kind, audio_id, who.user, mode=mode, fmt=fmt, link=request.rel_url.path
            )
            return await send_payload(request, payload, attachment=mode is ListenKind.DOWNLOAD)

        return guarded(handler)

    async def by_name(request: web.Request, who: Principal) -> web.StreamResponse:
        fmt, mode = _audio_params(request)
        name = request.match_info["name"]
        slug = name.partition("/")[0]
        tenant_id = None
        if tenants is not None and _SLUG.fullmatch(slug) and not _UUID.fullmatch(slug):
            tenant_id = await tenants.tenant_id(slug)
        payload = await service.open_by_location(
            store_location(name, tenant_id), who.user, mode=mode, fmt=fmt, link=request.rel_url.path
        )
        return await send_payload(request, payload, attachment=mode is ListenKind.DOWNLOAD)

    async def case_audio(request: web.Request, who: Principal) -> web.StreamResponse:
        case_id = parse_id(request.match_info["case_id"], "case id")
        _query(request, frozenset())
        found = await service.case_audio(case_id, who.user)
        return web.json_response(
            {
                "case_id": str(case_id),
                "audio": [
                    {**audio_json(a), "links": _links(AudioType(a.kind), a.id)} for a in found
                ],
            }
        )

    async def listening_log(request: web.Request, who: Principal) -> web.StreamResponse:
        case_id = parse_id(request.match_info["case_id"], "case id")
        _query(request, frozenset())
        events = await service.listening_events(case_id, who.user)
        return web.json_response(
            {
                "case_id": str(case_id),
                "events": [
                    {
                        "id": str(e.id),
                        "at": e.at.isoformat(),
                        "type": e.event_type.value,
                        "user_id": str(e.user_id),
                        "link": e.link,
                        "recording_id": None if e.recording_id is None else str(e.recording_id),
                        "voice_message_id": (
                            None if e.voice_message_id is None else str(e.voice_message_id)
                        ),
                    }
                    for e in events
                ],
            }
        )

    async def export(request: web.Request, who: Principal) -> web.StreamResponse:
        case_id = parse_id(request.match_info["case_id"], "case id")
        _query(request, frozenset())
        payload = await service.export_case(case_id, who.user, link=request.rel_url.path)
        return await send_payload(request, payload, attachment=True)

    for kind, path in _PATHS.items():
        # ``/api/recordings/live`` belongs to the recording control API: never shadow it.
        app.router.add_get(f"/api/{path}/{{id:(?!live$)[^/]+}}", metadata(kind), allow_head=False)
        app.router.add_get(f"/api/{path}/{{id}}/audio", audio(kind), allow_head=False)
    app.router.add_get("/api/audio/{name:.+}", guarded(by_name), allow_head=False)
    app.router.add_get("/api/cases/{case_id}/audio", guarded(case_audio), allow_head=False)
    app.router.add_get(
        "/api/cases/{case_id}/listening-events", guarded(listening_log), allow_head=False
    )
    app.router.add_post("/api/cases/{case_id}/export", guarded(export))
