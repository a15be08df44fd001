"""The one guard of every authenticated route: who is calling, in which role, for which tenant.

``guard.requires(Role.ADMIN, Role.TEAM)(handler)`` authenticates the request (session,
API token or Basic: :meth:`Guard._identify`), refuses other roles with 403 and calls
``handler(request, principal)``. The :class:`Principal` carries the user and the tenant the
request acts in: the user's own, or, for an admin who belongs to no tenant, any (None) or the
one named by the route's tenant parameter. A handler that finds a resource calls
:meth:`Principal.scope` with the resource's tenant: another tenant's resource is refused with
403 (:class:`~ivr.http.problems.TenantRefused`).

``guard.intake(tokens)(handler)`` is the same door for the gateways' webhooks: one of the
tenant's live intake bearer tokens (random, stored hashed: ``tokens.verify(slug, token)``)
instead of a user. An unknown tenant is a 401 like a wrong token (no slug enumeration).

Every 403 of an authenticated user (a missing role, another tenant named or found, or a
handler's own refusal) is written to the audit log as ``access.refused`` (user, method, the
route's *template* (never the concrete URL, which may hold personal data), reason) and
nothing else changes. Anonymous 401s are only logged, not audited: a flood of them must not
fill the hash-chained log (nor queue on its lock).

Missing, wrong or malformed credentials answer 401 with the challenge; a database that cannot
be asked raises a storage error that the edge middleware answers with 503. Logs name the login
or tenant slug, never a password or token.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from ivr.http.auth import BASIC_CHALLENGE, BEARER_CHALLENGE, basic_credentials, bearer_token
from ivr.http.edge import ERRORS
from ivr.http.problems import (
    BadInput,
    NotAllowed,
    NotThere,
    Problem,
    TenantRefused,
    Unauthenticated,
)
from ivr.http.sessions import (
    CSRF_HEADER,
    SAFE_METHODS,
    SESSION_COOKIE,
    CsrfRefused,
    Identity,
    csrf_matches,
)
from storage.domain import Actor, UserInfo
from storage.events import Role
from storage.ports import AuditAppender
from storage.repositories.intake_tokens import well_formed

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# How the guard identified the request: "session", "token" or "basic".
AUTH_VIA = web.RequestKey("linja.auth.via", str)


class Authenticator(Protocol):
    async def authenticate(self, login: str, password: str) -> UserInfo | None: ...


class TenantLookup(Protocol):
    async def tenant_id(self, slug: str) -> uuid.UUID | None: ...


class IntakeTokens(Protocol):
    async def verify(self, slug: str, token: str) -> uuid.UUID | None: ...


@dataclass(frozen=True)
class Principal:
    """An authenticated user and the tenant the request acts in (None: every tenant)."""

    user: UserInfo
    tenant_id: uuid.UUID | None

    @property
    def login(self) -> str:
        return self.user.login

    @property
    def role(self) -> Role:
        return self.user.role

    def sees(self, tenant_id: uuid.UUID | None) -> bool:
        return self.tenant_id is None or self.tenant_id == tenant_id

    def scope(self, tenant_id: uuid.UUID | None) -> None:
        """Refuse (403) a resource that belongs to another tenant."""
        if not self.sees(tenant_id):
            log.info("user %s refused a resource of another tenant", self.login)
            raise TenantRefused("not a user of this tenant")

    def tenant(self) -> uuid.UUID:
        """The one tenant the request acts in (routes guarded with ``tenant_param``)."""
        if self.tenant_id is None:
            raise BadInput("a tenant is required", errors={"tenant": "required"})
        return self.tenant_id


@dataclass(frozen=True)
class IntakeCaller:
    """A gateway that presented the intake token of tenant ``slug``."""

    slug: str
    tenant_id: uuid.UUID


def permits(role: Role, roles: frozenset[Role]) -> bool:
    """Whether ``role`` may use what ``roles`` may (an operator may use what an admin may)."""
    return role in roles or (role is Role.OPERATOR and Role.ADMIN in roles)


PrincipalHandler = Callable[[web.Request, Principal], Awaitable[web.StreamResponse]]
IntakeHandler = Callable[[web.Request, IntakeCaller], Awaitable[web.StreamResponse]]


class Guard:
    def __init__(
        self,
        users: Authenticator,
        tenants: TenantLookup,
        identity: Identity | None = None,
        *,
        audit: AuditAppender,
    ) -> None:
        self._users = users
        self._tenants = tenants
        self.identity = identity
        self._audit = audit

    async def _identify(self, request: web.Request) -> UserInfo | None:
        """Who the request is: its session cookie (a state-changing request must then carry
        the session's CSRF token), else a personal API token, else HTTP Basic. None: nobody
        (the caller answers 401). Without an :class:`Identity`, Basic against ``users``."""
        header = request.headers.get("Authorization")
        ids = self.identity
        if ids is None:
            creds = basic_credentials(header)
            return await self._users.authenticate(*creds) if creds else None
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie is not None:
            session = await ids.session(cookie)
            if session is not None:
                if request.method not in SAFE_METHODS and not csrf_matches(
                    cookie, request.headers.get(CSRF_HEADER)
                ):
                    log.info("user %s: a change without the CSRF token", session.user.login)
                    raise CsrfRefused(f"a session's changes need its {CSRF_HEADER} header")
                request[AUTH_VIA] = "session"
                return session.user
        token = bearer_token(header)
        if token is not None:
            request[AUTH_VIA] = "token"
            return await ids.token(token)
        creds = basic_credentials(header)
        if creds is None:
            return None
        request[AUTH_VIA] = "basic"
        return await ids.password(*creds, request.remote or "", via="basic")

    async def principal(
        self, request: web.Request, roles: frozenset[Role], tenant_param: str | None = None
    ) -> Principal:
        user = await self._identify(request)
        if user is None:
            raise Unauthenticated("log in with HTTP Basic", challenge=BASIC_CHALLENGE)
        if not permits(user.role, roles):
            names = " or ".join(sorted(r.value for r in roles))
            raise await self.refused(request, user, NotAllowed(f"this needs the role {names}"))
        if tenant_param is None:
            return Principal(user, user.tenant_id)
        asked = request.query.get(tenant_param) or None
        if user.tenant_id is None:
            if user.role is not Role.OPERATOR or asked is None:
                raise BadInput(
                    "a tenant is required",
                    errors={tenant_param: "required for a user of no tenant"},
                )
            return Principal(user, await self._tenant(asked))
        if asked is not None and await self._tenants.tenant_id(asked[:64]) != user.tenant_id:
            raise await self.refused(request, user, TenantRefused("not a user of this tenant"))
        return Principal(user, user.tenant_id)

    async def refused(self, request: web.Request, user: UserInfo, problem: Problem) -> Problem:
        """Audit the refusal (403) of ``user``'s request as ``access.refused`` and return the
        problem to raise. Only the route's template is kept, never the concrete URL."""
        await self._audit_refusal(request, user, problem.slug, problem.detail)
        return problem

    async def _audit_refusal(
        self, request: web.Request, user: UserInfo, reason: str, detail: str
    ) -> None:
        resource = request.match_info.route.resource
        route = "?" if resource is None else resource.canonical
        log.info("user %s refused: %s %s: %s", user.login, request.method, route, detail[:200])
        try:
            await self._audit.append(
                "access.refused",
                Actor.user(user),
                tenant_id=user.tenant_id,
                target_type="route",
                target_id=f"{request.method} {route}"[:100],
                details={
                    "method": request.method,
                    "route": route,
                    "reason": reason,
                    "detail": detail[:200],
                },
            )
        except Exception as exc:  # the refusal stands; an unaudited one is logged
            log.error("user %s refused but not audited: %s", user.login, type(exc).__name__)

    async def _handler_refused(self, request: web.Request, user: UserInfo, exc: Exception) -> None:
        """Audit ``exc`` if it answers 403: a :class:`NotAllowed` (``Principal.scope``, a
        handler's own check) or a domain error registered as 403 on the app's error map."""
        if isinstance(exc, Problem):
            if exc.status == 403:
                await self._audit_refusal(request, user, exc.slug, exc.detail)
            return
        answers = request.app.get(ERRORS)
        answer = None if answers is None else answers.find(exc)
        if answer is not None and answer.status == 403:
            detail = answer.detail if answer.detail is not None else str(exc)
            await self._audit_refusal(request, user, answer.slug, detail)

    async def _tenant(self, slug: str) -> uuid.UUID:
        tenant_id = await self._tenants.tenant_id(slug[:64])
        if tenant_id is None:
            raise NotThere(f"unknown tenant {slug[:64]!r}")
        return tenant_id

    def requires(
        self, *roles: Role, tenant_param: str | None = None
    ) -> Callable[[PrincipalHandler], Handler]:
        """Guard a handler: one of ``roles`` (none given: any role); with ``tenant_param``
        the principal's tenant is set (a tenantless admin names it in that query parameter,
        anyone else may only name their own)."""
        allowed = frozenset(roles or Role)

        def wrap(handler: PrincipalHandler) -> Handler:
            async def guarded(request: web.Request) -> web.StreamResponse:
                who = await self.principal(request, allowed, tenant_param)
                try:
                    return await handler(request, who)
                except Exception as exc:  # a 403 from Principal.scope or the handler
                    await self._handler_refused(request, who.user, exc)
                    raise

            return guarded

        return wrap

    def intake(
        self, tokens: IntakeTokens, *, slug_param: str = "tenant"
    ) -> Callable[[IntakeHandler], Handler]:
        """Guard a webhook: a live bearer token of the tenant in ``match_info[slug_param]``."""

        def wrap(handler: IntakeHandler) -> Handler:
            async def guarded(request: web.Request) -> web.StreamResponse:
                slug = request.match_info[slug_param][:64]
                token = bearer_token(request.headers.get("Authorization"))
                tenant_id = (
                    None
                    if token is None or not slug.isprintable() or not well_formed(token)
                    else await tokens.verify(slug, token)
                )
                if tenant_id is None:
                    log.warning("[%r] intake: missing or wrong bearer token", slug)
                    raise Unauthenticated(
                        "missing or wrong intake token", challenge=BEARER_CHALLENGE
                    )
                return await handler(request, IntakeCaller(slug, tenant_id))

            return guarded

        return wrap
