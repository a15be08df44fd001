"""Contact requests over HTTP: the gateways' webhooks and the agents' request API.

Webhooks (SMS, e-mail, chat and web-form gateways), one per channel::

    POST /api/intake/{tenant}/sms|email|chat|web
        Authorization: Bearer <a live intake token of the tenant>  (`linja intake token add`)
        Idempotency-Key: <the gateway's message id>         (optional; or "idempotency_key")
        Content-Type: application/json  (the web form may also post form-urlencoded)
    201 created {"id", "case_id", "channel", "queue", "status"}; 200 a repeat of the same
    submission (same key); 400 with {"errors": {"field": "message"}}; 401 bad token (also
    for an unknown tenant: no token names one); 409 the key was used for a different
    submission; 413 body over 64 KiB; 415 wrong content type; 503 database down (nothing
    stored: the gateway retries, safely with a key). Errors are problem+json bodies
    (:mod:`ivr.http.edge`).

Agents (the guard: HTTP Basic as a Linja user; admin or team of the tenant; external users
get 403)::

    GET  /api/requests[?queue=Q&channel=C&tenant=T]      open and claimed requests; one of a
         person under a processing restriction has "restricted": true and no name, phone,
         e-mail or message (it is stored only; nobody claims it)
    POST /api/requests/claim[?queue=Q&channel=C&tenant=T] the oldest open written request
         (FOR UPDATE SKIP LOCKED), 200 with it or 204 when there is none
    POST /api/requests/{id}/complete|release|cancel

``tenant`` is only needed (and only allowed to differ) for an admin who belongs to no tenant.
Claims, completions, releases and cancellations are written to the audit log.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ivr.clock import Clock
from ivr.contacts.intake import (
    DEFAULT_NUMBERS,
    WRITTEN,
    InvalidSubmission,
    parse_form,
    parse_json,
    validate,
)
from ivr.flowdefs.live import LiveDefinitions
from ivr.http.edge import register
from ivr.http.guard import Guard, IntakeCaller, IntakeTokens, Principal
from ivr.http.problems import BadInput, NotThere, TooLarge, UnsupportedMedia
from ivr.telephony.numbers import NumberPolicy
from storage.domain import Actor, ContactRequestView
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


QueuesOf = Callable[[str], Sequence[str] | None]
NumbersOf = Callable[[str], NumberPolicy]  # a tenant's callable numbers (its [callbacks])


@dataclass
class ContactDeps:
    requests: ContactRequestRepository
    clock: Clock
    intake_tokens: IntakeTokens  # the tenants' live intake tokens (stored hashed)
    queues_of: QueuesOf  # a tenant's queue names in definition order; None: no definitions
    # A tenant's allowed phone numbers; a tenant without definitions gets the default list.
    numbers_of: NumbersOf = lambda _tenant: DEFAULT_NUMBERS


def queues_from(definitions: LiveDefinitions) -> QueuesOf:
    """The tenant's queues from the live flow definitions (the first one is the default)."""

    def queues(tenant: str) -> Sequence[str] | None:
        flows = definitions.get(tenant)
        return None if flows is None else list(flows.queues)

    return queues


def numbers_from(definitions: LiveDefinitions) -> NumbersOf:
    """The tenant's ``[callbacks]`` number policy from the live flow definitions."""

    def numbers(tenant: str) -> NumberPolicy:
        flows = definitions.get(tenant)
        return DEFAULT_NUMBERS if flows is None else flows.callbacks

    return numbers


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
        "restricted": r.restricted,
    }


async def read_body(request: web.Request, limit: int = MAX_BODY) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    too_big = f"body larger than {limit} bytes"
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(too_big)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise TooLarge(too_big)
        chunks.append(chunk)
    return b"".join(chunks)


def add_routes(app: web.Application, deps: ContactDeps, guard: Guard) -> None:
    register(
        app,
        IdempotencyMismatch,
        409,
        slug="idempotency-mismatch",
        detail="the idempotency key was used for a different submission",
        fields=lambda _: {"idempotency_key": "already used for a different submission"},
    )
    register(app, NotClaimant, 403, slug="not-claimant")
    register(app, WrongState, 409, slug="wrong-state")
    handlers = _Handlers(deps)
    agents = guard.requires(Role.ADMIN, Role.TEAM, tenant_param="tenant")
    app.router.add_post(
        f"/api/intake/{{tenant}}/{{channel:{_CHANNELS}}}",
        guard.intake(deps.intake_tokens)(handlers.intake),
    )
    app.router.add_get("/api/requests", agents(handlers.listing))
    app.router.add_post("/api/requests/claim", agents(handlers.claim))
    app.router.add_post("/api/requests/{id}/{action:complete|release|cancel}", agents(handlers.act))


class _Handlers:
    def __init__(self, deps: ContactDeps) -> None:
        self._d = deps

    # ----- webhooks ---------------------------------------------------------------------
    async def intake(self, request: web.Request, caller: IntakeCaller) -> web.StreamResponse:
        slug, channel = caller.slug, Channel(request.match_info["channel"])
        kind = request.content_type
        allowed = (JSON, FORM) if channel is Channel.WEB else (JSON,)
        if kind not in allowed or (request.charset or "utf-8").lower() not in ("utf-8", "utf8"):
            raise UnsupportedMedia(f"content type must be {' or '.join(allowed)} (UTF-8)")
        body = await read_body(request)
        try:
            data = parse_json(body) if kind == JSON else parse_form(body)
            submission = validate(
                channel,
                data,
                idempotency_header=request.headers.get("Idempotency-Key"),
                numbers=self._d.numbers_of(slug),
            )
        except InvalidSubmission as exc:
            log.info("[%s] %s intake refused: fields %s", slug, channel, sorted(exc.errors))
            raise BadInput("the submission has invalid fields", errors=exc.errors) from None
        queue = submission.queue
        known = self._d.queues_of(slug)
        if queue is not None and known is not None and queue not in known:
            raise BadInput(
                "the submission has invalid fields",
                errors={"queue": f"unknown queue (known: {', '.join(known)})"},
            )
        if queue is None and known:
            queue = known[0]
        key = submission.idempotency_key
        result = await self._d.requests.submit(
            tenant_id=caller.tenant_id,
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
        r = result.request
        log.info(
            "[%s] contact request %s (case %s) via %s in queue %s: %s%s",
            slug,
            r.id,
            r.case_id,
            channel,
            r.queue,
            "created" if result.created else "repeat",
            ", processing restricted: stored only" if r.restricted else "",
        )
        reply = {
            "id": str(r.id),
            "case_id": str(r.case_id),
            "channel": r.channel.value,
            "queue": r.queue,
            "status": r.status.value,
        }
        return web.json_response(reply, status=201 if result.created else 200)

    # ----- agents -----------------------------------------------------------------------
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
            raise BadInput(
                "unknown channel", errors={"channel": f"unknown channel (known: {known})"}
            ) from None

    async def listing(self, request: web.Request, who: Principal) -> web.StreamResponse:
        queue, channels = self._filters(request)
        rows = await self._d.requests.list_open(who.tenant(), queue=queue, channels=channels)
        return web.json_response({"requests": [request_json(r) for r in rows]})

    async def claim(self, request: web.Request, who: Principal) -> web.StreamResponse:
        queue, channels = self._filters(request)
        got = await self._d.requests.claim_next(
            who.tenant(),
            who.user.id,
            self._d.clock(),
            queue=queue,
            channels=channels or WRITTEN,
            actor=Actor.user(who.user),
        )
        if got is None:
            return web.Response(status=204)
        log.info("[%s] contact request claimed by %s", got.id, who.login)
        return web.json_response(request_json(got))

    async def act(self, request: web.Request, who: Principal) -> web.StreamResponse:
        action = AgentAction(request.match_info["action"])
        try:
            request_id = uuid.UUID(request.match_info["id"])
        except ValueError:
            raise NotThere("no such contact request") from None
        done = await self._d.requests.act(
            request_id,
            action,
            tenant_id=who.tenant(),
            agent_id=who.user.id,
            now=self._d.clock(),
            actor=Actor.user(who.user),
            admin=who.role.is_admin,
        )
        log.info("[%s] contact request %s by %s", request_id, action.value, who.login)
        return web.json_response(request_json(done))
