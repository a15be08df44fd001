"""The management API: tenants, service numbers and users (the same operations as
``linja tenant|number|user``, :mod:`ivr.admin.operations`).

Who may do what (HTTP Basic through the one guard; ``Principal.scope`` refuses another
tenant's resource with 403):

    GET    /api/tenants                      operator: all; admin: their own tenant only
    POST   /api/tenants                      operator
    GET    /api/tenants/{slug}               operator; admin of that tenant
    PATCH  /api/tenants/{slug}               operator; admin of that tenant (never the slug)
    GET    /api/numbers[?tenant=]            operator: all or one tenant's; admin: their own
    POST   /api/numbers                      operator (answer carries routing ``warnings``)
    DELETE /api/numbers/{number}             operator (409 when the number has history)
    GET    /api/users[?tenant=]              operator: all or one tenant's; admin: their own
    POST   /api/users                        operator; admin (own tenant, not operators)
    GET    /api/users/me                     any user: their own record
    GET    /api/users/{login}                operator; admin of the user's tenant
    PATCH  /api/users/{login}                operator; admin of the user's tenant
    POST   /api/users/{login}/password       the user themself; operator; admin of the tenant
    POST   /api/users/{login}/phone-login    operator; admin of the user's tenant
    POST   /api/users/{login}/disable|enable operator; admin of the user's tenant

``team`` and ``external`` users get 403 everywhere but ``/api/users/me`` and their own
password. Lists are pages in key order: ``?limit=`` (1..200, default 50) and ``?after=``
(the ``next`` link of the previous page carries it; ``next`` is null on the last page).
Bodies are JSON objects; every bad or unknown field is named in the problem's ``errors``
(400; 409 for a slug, login, number or phone login in use). Every change is in the audit
log with the acting user.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ivr.admin.operations import Management, Taken, page_after, page_limit
from ivr.admin.validation import Invalid
from ivr.admin.views import number_view, tenant_view, user_view
from ivr.http.edge import register
from ivr.http.guard import Guard, Principal
from ivr.http.problems import BadInput, NotAllowed
from storage.domain import Actor, Page, UserInfo
from storage.errors import NumberInUse
from storage.events import Role

log = logging.getLogger(__name__)

LIST_PARAMS = frozenset({"limit", "after", "tenant"})
MAX_BODY = 16 * 1024


def _errors(exc: Invalid) -> Mapping[str, str]:
    return exc.errors


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, or 400 naming ``body``."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise BadInput("the body is too large", errors={"body": f"at most {MAX_BODY} bytes"})
    raw = await request.read()
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise BadInput("the body must be a JSON object", errors={"body": "not JSON"}) from None
    if not isinstance(body, dict):
        raise BadInput("the body must be a JSON object", errors={"body": "not an object"})
    return body


def _query(request: web.Request) -> tuple[int, str | None]:
    unknown = sorted(set(request.query) - LIST_PARAMS)
    if unknown:
        raise Invalid({k[:40]: "unknown parameter" for k in unknown})
    return page_limit(request.query.get("limit")), page_after(request.query.get("after"))


def _next(request: web.Request, page: Page[Any], limit: int) -> str | None:
    if page.after is None:
        return None
    params = {k: v for k, v in request.query.items() if k == "tenant"}
    params |= {"limit": str(limit), "after": page.after}
    return f"{request.path}?{urlencode(params)}"


def _listing(items: list[dict[str, Any]], next_link: str | None) -> web.Response:
    return web.json_response({"items": items, "next": next_link})


def add_routes(app: web.Application, admin: Management, guard: Guard) -> None:
    register(app, Taken, 409, slug="conflict", detail="already in use", fields=_errors)
    register(
        app, Invalid, 400, slug="validation", detail="the input has invalid fields", fields=_errors
    )
    register(app, NumberInUse, 409, slug="number-in-use")

    operator = guard.requires(Role.OPERATOR)
    admins = guard.requires(Role.ADMIN)  # admins of a tenant, and operators
    anyone = guard.requires()

    async def slug_of(tenant_id: uuid.UUID | None) -> str | None:
        return await admin.slug_of(tenant_id)

    async def listed_tenant(request: web.Request, who: Principal) -> uuid.UUID | None:
        """The tenant a list is about: ``?tenant=`` (scoped), else the user's own."""
        slug = request.query.get("tenant")
        if slug is None:
            return who.tenant_id
        tenant = await admin.tenant_of("tenant", slug[:64])
        who.scope(tenant.id)
        return tenant.id

    # -- tenants -------------------------------------------------------------------------

    @admins
    async def tenants_list(request: web.Request, who: Principal) -> web.StreamResponse:
        limit, after = _query(request)
        if request.query.get("tenant") is not None:
            raise Invalid({"tenant": "unknown parameter"})
        if who.tenant_id is not None:  # an admin: the one tenant
            own = await admin.tenants.get(who.tenant_id)
            items = [tenant_view(own)] if after is None or own.slug > after else []
            return _listing(items, None)
        page = await admin.tenant_page(after, limit)
        return _listing([tenant_view(t) for t in page.items], _next(request, page, limit))

    @operator
    async def tenants_create(request: web.Request, who: Principal) -> web.StreamResponse:
        tenant = await admin.add_tenant(await json_body(request), Actor.user(who.user))
        return web.json_response(tenant_view(tenant), status=201)

    @admins
    async def tenants_show(request: web.Request, who: Principal) -> web.StreamResponse:
        tenant = await admin.tenant(request.match_info["slug"])
        who.scope(tenant.id)
        return web.json_response(tenant_view(tenant))

    @admins
    async def tenants_update(request: web.Request, who: Principal) -> web.StreamResponse:
        tenant = await admin.tenant(request.match_info["slug"])
        who.scope(tenant.id)
        body = await json_body(request)
        updated = await admin.update_tenant(tenant, body, Actor.user(who.user))
        return web.json_response(tenant_view(updated))

    # -- numbers -------------------------------------------------------------------------

    @admins
    async def numbers_list(request: web.Request, who: Principal) -> web.StreamResponse:
        limit, after = _query(request)
        page = await admin.numbers(await listed_tenant(request, who), after, limit)
        items = [number_view(n, await slug_of(n.tenant_id)) for n in page.items]
        return _listing(items, _next(request, page, limit))

    @operator
    async def numbers_create(request: web.Request, who: Principal) -> web.StreamResponse:
        added = await admin.add_number(await json_body(request), Actor.user(who.user))
        body = number_view(added.number, await slug_of(added.number.tenant_id))
        for warning in added.warnings:
            log.warning("number %s: %s", added.number.number, warning)
        return web.json_response(body | {"warnings": added.warnings}, status=201)

    @operator
    async def numbers_remove(request: web.Request, who: Principal) -> web.StreamResponse:
        removed = await admin.remove_number(request.match_info["number"], Actor.user(who.user))
        return web.json_response(number_view(removed, await slug_of(removed.tenant_id)))

    # -- users ---------------------------------------------------------------------------

    async def shown(user: UserInfo) -> dict[str, Any]:
        return user_view(user, await slug_of(user.tenant_id))

    @admins
    async def users_list(request: web.Request, who: Principal) -> web.StreamResponse:
        limit, after = _query(request)
        page = await admin.user_page(await listed_tenant(request, who), after, limit)
        return _listing([await shown(u) for u in page.items], _next(request, page, limit))

    @admins
    async def users_create(request: web.Request, who: Principal) -> web.StreamResponse:
        body = await json_body(request)
        if who.tenant_id is not None:  # an admin: their own tenant, tenant roles only
            own = await slug_of(who.tenant_id)
            body.setdefault("tenant", own)
            if body.get("role") == Role.OPERATOR.value:
                raise NotAllowed("only an operator may create operators")
            if isinstance(body["tenant"], str) and body["tenant"] != own:
                who.scope((await admin.tenant_of("tenant", body["tenant"][:64])).id)
        user = await admin.add_user(body, Actor.user(who.user))
        return web.json_response(await shown(user), status=201)

    @anyone
    async def users_me(_request: web.Request, who: Principal) -> web.StreamResponse:
        return web.json_response(await shown(who.user))

    async def target(request: web.Request, who: Principal) -> UserInfo:
        user = await admin.user(request.match_info["login"])
        who.scope(user.tenant_id)
        return user

    @admins
    async def users_show(request: web.Request, who: Principal) -> web.StreamResponse:
        return web.json_response(await shown(await target(request, who)))

    @admins
    async def users_update(request: web.Request, who: Principal) -> web.StreamResponse:
        user = await target(request, who)
        body = await json_body(request)
        changed = await admin.update_user(user, body, Actor.user(who.user))
        return web.json_response(await shown(changed))

    @anyone
    async def users_password(request: web.Request, who: Principal) -> web.StreamResponse:
        if request.match_info["login"] == who.login:
            user = who.user
        elif who.role.is_admin:
            user = await target(request, who)
        else:
            raise NotAllowed("only your own password")
        body = await json_body(request)
        changed = await admin.set_password(user, body, Actor.user(who.user))
        return web.json_response(await shown(changed))

    @admins
    async def users_phone_login(request: web.Request, who: Principal) -> web.StreamResponse:
        user = await target(request, who)
        body = await json_body(request)
        changed = await admin.set_phone_login(user, body, Actor.user(who.user))
        return web.json_response(await shown(changed))

    def switch(
        act: Callable[[UserInfo, Actor], Awaitable[UserInfo]],
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        @admins
        async def handle(request: web.Request, who: Principal) -> web.StreamResponse:
            user = await target(request, who)
            return web.json_response(await shown(await act(user, Actor.user(who.user))))

        return handle

    r = app.router
    r.add_get("/api/tenants", tenants_list)
    r.add_post("/api/tenants", tenants_create)
    r.add_get("/api/tenants/{slug}", tenants_show)
    r.add_patch("/api/tenants/{slug}", tenants_update)
    r.add_get("/api/numbers", numbers_list)
    r.add_post("/api/numbers", numbers_create)
    r.add_delete("/api/numbers/{number}", numbers_remove)
    r.add_get("/api/users", users_list)
    r.add_post("/api/users", users_create)
    r.add_get("/api/users/me", users_me)
    r.add_get("/api/users/{login}", users_show)
    r.add_patch("/api/users/{login}", users_update)
    r.add_post("/api/users/{login}/password", users_password)
    r.add_post("/api/users/{login}/phone-login", users_phone_login)
    r.add_post("/api/users/{login}/disable", switch(admin.disable))
    r.add_post("/api/users/{login}/enable", switch(admin.enable))
