"""Contact requests over HTTP: the gateways' webhooks and the agents' request API.

Webhooks (SMS, e-mail, chat and web-form gateways), one per channel::

    POST /api/intake/{tenant}/sms|email|chat|web
        Authorization: Bearer <the tenant's intake token>   (`linja intake token --tenant T`)
        Idempotency-Key: <the gateway's message id>         (optional; or "idempotency_key")
        Content-Type: application/json  (the web form may also post form-urlencoded)
    201 created {"id", "case_id", "channel", "queue", "status"}; 200 a repeat of the same
    submission (same key); 400 {"errors": {"field": "message"}}; 401 bad token; 404 unknown
    tenant; 409 the key was used for a different submission; 413 body over 64 KiB; 415 wrong
    content type; 503 database down (nothing stored: the gateway retries, safely with a key).

Agents (HTTP Basic as a Linja user; admin or team of the tenant; external users get 403)::

    GET  /api/requests[?queue=Q&channel=C&tenant=T]      open and claimed requests
    POST /api/requests/claim[?queue=Q&channel=C&tenant=T] the oldest open written request
         (FOR UPDATE SKIP LOCKED), 200 with it or 204 when there is none
    POST /api/requests/{id}/complete|release|cancel

``tenant`` is only needed (and only allowed to differ) for an admin who belongs to no tenant.
Claims, completions, releases and cancellations are written to the audit log.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol, TypeVar

from aiohttp import web

from ivr.clock import Clock
from ivr.contacts.intake import WRITTEN, InvalidSubmission, parse_form, parse_json, validate
from ivr.contacts.tokens import token_matches
from ivr.flowdefs.live import LiveDefinitions
from ivr.http.auth import CHALLENGE, Authenticator, authenticated_user
from storage.domain import Actor, ContactRequestView, UserInfo
from storage.errors import NotFound, StorageError, StorageUnavailable
from storage.events import Channel, Role
from storage.repositories.contact_requests import (
    AgentAction,
    ContactRequestRepository,
    IdempotencyMismatch,
    NotClaimant,
    WrongState,
)

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
_CHANNELS = "|".join(c.value for c in WRITTEN)
T = TypeVar("T")


class TenantLookup(Protocol):
    async def tenant_id(self, slug: str) -> uuid.UUID | None: ...


QueuesOf = Callable[[str], Sequence[str] | None]


@dataclass
class ContactDeps:
    requests: ContactRequestRepository
    tenants: TenantLookup
    users: Authenticator
    clock: Clock
    intake_secret: str | None  # None: intake answers 503 until `linja stack up` makes one
    queues_of: QueuesOf  # a tenant's queue names in definition order; None: no definitions


def queues_from(definitions: LiveDefinitions) -> QueuesOf:
    """The tenant's queues from the live flow definitions (the first one is the default)."""

    def queues(tenant: str) -> Sequence[str] | None:
        flows = definitions.get(tenant)
        return None if flows is None else list(flows.queues)

    return queues


def _raise(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> NoReturn:
    cls = {
        400: web.HTTPBadRequest,
        401: web.HTTPUnauthorized,
        403: web.HTTPForbidden,
        404: web.HTTPNotFound,
        409: web.HTTPConflict,
        413: web.HTTPRequestEntityTooLarge,
        415: web.HTTPUnsupportedMediaType,
        503: web.HTTPServiceUnavailable,
    }[status]
    if cls is web.HTTPRequestEntityTooLarge:
        raise web.HTTPRequestEntityTooLarge(
            max_size=MAX_BODY, actual_size=0, text=json.dumps(body), content_type=JSON
        )
    raise cls(text=json.dumps(body), content_type=JSON, headers=headers)


def request_json(r: ContactRequestView) -> dict[str, Any]:
    def ts(value: Any) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "id": str(r.id),
        "case_id": str(r.case_id),
        "channel": r.channel.value,
        "queue": r.queue,
        "status": r.status.value,
        "requested_at": ts(r.requested_at),
        "name": r.name,
        "phone": r.callback_number,
        "email": r.email,
        "message": r.message,
        "claimed_by": None if r.claimed_by is None else str(r.claimed_by),
        "claimed_at": ts(r.claimed_at),
        "attempts": r.attempts,
        "last_agent_id": None if r.last_agent_id is None else str(r.last_agent_id),
        "last_handled_at": ts(r.last_handled_at),
        "closed_at": ts(r.closed_at),
    }


async def read_body(request: web.Request, limit: int = MAX_BODY) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    too_big = {"error": f"body larger than {limit} bytes"}
    if request.content_length is not None and request.content_length > limit:
        _raise(413, too_big)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            _raise(413, too_big)
        chunks.append(chunk)
    return b"".join(chunks)


def add_routes(app: web.Application, deps: ContactDeps) -> None:
    handlers = _Handlers(deps)
    app.router.add_post(f"/api/intake/{{tenant}}/{{channel:{_CHANNELS}}}", handlers.intake)
    app.router.add_get("/api/requests", handlers.listing)
    app.router.add_post("/api/requests/claim", handlers.claim)
    app.router.add_post("/api/requests/{id}/{action:complete|release|cancel}", handlers.act)


class _Handlers:
    def __init__(self, deps: ContactDeps) -> None:
        self._d = deps

    # ----- webhooks ---------------------------------------------------------------------
    async def intake(self, request: web.Request) -> web.Response:
        slug, channel = request.match_info["tenant"], Channel(request.match_info["channel"])
        self._check_token(request, slug)
        kind = request.content_type
        allowed = (JSON, FORM) if channel is Channel.WEB else (JSON,)
        if kind not in allowed or (request.charset or "utf-8").lower() not in ("utf-8", "utf8"):
            _raise(415, {"error": f"content type must be {' or '.join(allowed)} (UTF-8)"})
        body = await read_body(request)
        try:
            data = parse_json(body) if kind == JSON else parse_form(body)
            submission = validate(
                channel, data, idempotency_header=request.headers.get("Idempotency-Key")
            )
        except InvalidSubmission as exc:
            log.info("[%s] %s intake refused: fields %s", slug, channel, sorted(exc.errors))
            _raise(400, {"errors": exc.errors})
        tenant_id = await self._tenant(slug)
        queue = submission.queue
        known = self._d.queues_of(slug)
        if queue is not None and known is not None and queue not in known:
            _raise(400, {"errors": {"queue": f"unknown queue (known: {', '.join(known)})"}})
        if queue is None and known:
            queue = known[0]
        key = submission.idempotency_key
        try:
            result = await self._d.requests.submit(
                tenant_id=tenant_id,
                channel=channel,
                at=self._d.clock(),
                service_number=submission.to,
                name=submission.name,
                email=submission.email,
                number=submission.phone,
                message=submission.message,
                queue=queue,
                idempotency_key=key,
                request_hash=None if key is None else submission.fingerprint(),
            )
        except IdempotencyMismatch:
            log.warning(
                "[%s] %s intake: idempotency key reused for a different body", slug, channel
            )
            _raise(409, {"errors": {"idempotency_key": "already used for a different submission"}})
        except StorageUnavailable:
            log.error(
                "[%s] %s intake: database unavailable, asked the gateway to retry", slug, channel
            )
            _raise(503, {"error": "temporarily unavailable, retry"}, {"Retry-After": "5"})
        r = result.request
        log.info(
            "[%s] contact request %s (case %s) via %s in queue %s: %s",
            slug,
            r.id,
            r.case_id,
            channel,
            r.queue,
            "created" if result.created else "repeat",
        )
        reply = {
            "id": str(r.id),
            "case_id": str(r.case_id),
            "channel": r.channel.value,
            "queue": r.queue,
            "status": r.status.value,
        }
        return web.json_response(reply, status=201 if result.created else 200)

    def _check_token(self, request: web.Request, slug: str) -> None:
        secret = self._d.intake_secret
        if secret is None:
            _raise(503, {"error": "intake is not configured: run `linja stack up`"})
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if (
            scheme.lower() != "bearer"
            or not token
            or not token_matches(secret, slug, token.strip())
        ):
            log.warning("[%r] intake: missing or wrong bearer token", slug[:64])
            _raise(
                401,
                {"error": "missing or wrong intake token"},
                {"WWW-Authenticate": 'Bearer realm="linja-intake"'},
            )

    async def _tenant(self, slug: str) -> uuid.UUID:
        try:
            tenant_id = await self._d.tenants.tenant_id(slug)
        except StorageUnavailable:
            _raise(503, {"error": "temporarily unavailable, retry"}, {"Retry-After": "5"})
        if tenant_id is None:
            _raise(404, {"error": f"unknown tenant {slug!r}"})
        return tenant_id

    # ----- agents -----------------------------------------------------------------------
    async def _agent(self, request: web.Request) -> tuple[UserInfo, uuid.UUID]:
        """The authenticated admin/team user and the tenant they act in."""
        user = await authenticated_user(request, self._d.users)
        if user is None:
            _raise(401, {"error": "log in (HTTP Basic)"}, CHALLENGE)
        if user.role not in (Role.ADMIN, Role.TEAM):
            _raise(403, {"error": "external users may not handle contact requests"})
        asked = request.query.get("tenant")
        if user.tenant_id is None:
            if user.role is not Role.ADMIN or not asked:
                _raise(400, {"errors": {"tenant": "required for a user of no tenant"}})
            return user, await self._tenant(asked)
        if asked and await self._d.tenants.tenant_id(asked) != user.tenant_id:
            _raise(403, {"error": "not a user of this tenant"})
        return user, user.tenant_id

    @staticmethod
    def _filters(request: web.Request) -> tuple[str | None, list[Channel] | None]:
        queue = request.query.get("queue") or None
        raw = request.query.get("channel")
        if raw is None:
            return queue, None
        try:
            return queue, [Channel(raw)]
        except ValueError:
            known = ", ".join(c.value for c in Channel)
            _raise(400, {"errors": {"channel": f"unknown channel (known: {known})"}})

    async def listing(self, request: web.Request) -> web.Response:
        _user, tenant_id = await self._agent(request)
        queue, channels = self._filters(request)
        rows = await self._storage(
            self._d.requests.list_open(tenant_id, queue=queue, channels=channels)
        )
        return web.json_response({"requests": [request_json(r) for r in rows]})

    async def claim(self, request: web.Request) -> web.Response:
        user, tenant_id = await self._agent(request)
        queue, channels = self._filters(request)
        got = await self._storage(
            self._d.requests.claim_next(
                tenant_id,
                user.id,
                self._d.clock(),
                queue=queue,
                channels=channels or WRITTEN,
                actor=Actor.user(user),
            )
        )
        if got is None:
            return web.Response(status=204)
        log.info("[%s] contact request claimed by %s", got.id, user.login)
        return web.json_response(request_json(got))

    async def act(self, request: web.Request) -> web.Response:
        user, tenant_id = await self._agent(request)
        action = AgentAction(request.match_info["action"])
        try:
            request_id = uuid.UUID(request.match_info["id"])
        except ValueError:
            _raise(404, {"error": "no such contact request"})
        try:
            done = await self._d.requests.act(
                request_id,
                action,
                tenant_id=tenant_id,
                agent_id=user.id,
                now=self._d.clock(),
                actor=Actor.user(user),
                admin=user.role is Role.ADMIN,
            )
        except NotFound:
            _raise(404, {"error": "no such contact request"})
        except NotClaimant as exc:
            _raise(403, {"error": str(exc)})
        except WrongState as exc:
            _raise(409, {"error": str(exc)})
        except StorageUnavailable:
            _raise(503, {"error": "temporarily unavailable, retry"}, {"Retry-After": "5"})
        log.info("[%s] contact request %s by %s", request_id, action.value, user.login)
        return web.json_response(request_json(done))

    @staticmethod
    async def _storage(work: Awaitable[T]) -> T:
        try:
            return await work
        except StorageUnavailable:
            _raise(503, {"error": "temporarily unavailable, retry"}, {"Retry-After": "5"})
        except StorageError as exc:
            log.error("contact requests: storage refused (%s)", type(exc).__name__)
            _raise(503, {"error": "temporarily unavailable, retry"}, {"Retry-After": "5"})
