"""The login API: browser sessions and personal API tokens (:mod:`ivr.http.sessions`).

    POST   /api/login        {"login", "password"} -> session cookie + who + CSRF token
    POST   /api/logout       ends the request's session at once (needs the CSRF token)
    GET    /api/session      who is logged in, how, and the session's CSRF token
    POST   /api/tokens       {"name", "expires": "90d" | "12h" | null} -> the token, once
    GET    /api/tokens       one's own tokens (never the tokens themselves)
    DELETE /api/tokens/{id}  revoke one of one's own tokens

A token cannot mint tokens: ``POST /api/tokens`` needs a session or a password.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from ivr.http.auth import BASIC_CHALLENGE
from ivr.http.guard import AUTH_VIA, Guard, Principal
from ivr.http.problems import BadInput, NotAllowed, NotThere, TooLarge, Unauthenticated
from ivr.http.sessions import (
    SESSION_COOKIE,
    TOKEN_PREFIX,
    Identity,
    clear_session_cookie,
    csrf_token,
    set_session_cookie,
)
from storage.domain import Actor, ApiTokenInfo, UserInfo
from storage.errors import NotFound

log = logging.getLogger(__name__)

MAX_BODY = 8 * 1024
MAX_PASSWORD = 1024
_DURATION = re.compile(r"^([1-9][0-9]{0,4})([dh])$")
MAX_EXPIRY = timedelta(days=3650)


def parse_expiry(text: str) -> timedelta:
    """``90d`` or ``12h`` (1 hour to 10 years); ValueError otherwise."""
    m = _DURATION.fullmatch(text.strip())
    if m is None:
        raise ValueError("a duration like 90d or 12h")
    span = timedelta(days=int(m[1])) if m[2] == "d" else timedelta(hours=int(m[1]))
    if span > MAX_EXPIRY:
        raise ValueError("at most 3650d")
    return span


async def _json_object(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise TooLarge(f"body larger than {MAX_BODY} bytes")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise TooLarge(f"body larger than {MAX_BODY} bytes")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise BadInput("the body is not JSON", errors={"body": "not a JSON object"}) from None
    if not isinstance(data, dict):
        raise BadInput("the body is not a JSON object", errors={"body": "not a JSON object"})
    return data


def _unknown(data: dict[str, Any], known: set[str]) -> dict[str, str]:
    return {str(k)[:50]: "unknown field" for k in data if k not in known}


def _text(data: dict[str, Any], name: str, limit: int, errors: dict[str, str]) -> str:
    value = data.get(name)
    if value is None:
        errors[name] = "required"
    elif not isinstance(value, str) or not value:
        errors[name] = "a non-empty string"
    elif len(value) > limit or not value.isprintable():
        errors[name] = f"at most {limit} printable characters"
    else:
        return value
    return ""


def _who(user: UserInfo) -> dict[str, Any]:
    return {
        "login": user.login,
        "name": user.name,
        "role": user.role.value,
        "tenant_id": None if user.tenant_id is None else str(user.tenant_id),
    }


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def token_view(t: ApiTokenInfo) -> dict[str, Any]:
    return {
        "id": str(t.id),
        "name": t.name,
        "created_at": _iso(t.created_at),
        "expires_at": _iso(t.expires_at),
        "last_used_at": _iso(t.last_used_at),
        "revoked_at": _iso(t.revoked_at),
    }


def _no_store(data: object, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, headers={"Cache-Control": "no-store"})


def add_routes(app: web.Application, identity: Identity, guard: Guard) -> None:
    anyone = guard.requires()

    async def login(request: web.Request) -> web.StreamResponse:
        data = await _json_object(request)
        errors = _unknown(data, {"login", "password"})
        name = _text(data, "login", 100, errors)
        password = _text(data, "password", MAX_PASSWORD, errors)
        if errors:
            raise BadInput("the login has invalid fields", errors=errors)
        user = await identity.password(name, password, request.remote or "", via="login")
        if user is None:
            raise Unauthenticated("wrong login or password", challenge=BASIC_CHALLENGE)
        policy = identity.policy
        token, session = await identity.sessions.start(user, identity.clock(), policy.lifetime)
        log.info("user %s logged in (session %s)", user.login, session.id)
        response = _no_store(
            {
                **_who(user),
                "csrf_token": csrf_token(token),
                "expires_at": _iso(session.expires_at),
                "idle_timeout": int(policy.idle.total_seconds()),
            }
        )
        set_session_cookie(response, token, secure=request.secure, max_age=policy.lifetime)
        return response

    async def logout(request: web.Request, who: Principal) -> web.StreamResponse:
        cookie = request.cookies.get(SESSION_COOKIE)
        if request.get(AUTH_VIA) == "session" and cookie is not None:
            await identity.sessions.end(cookie, identity.clock(), Actor.user(who.user))
            log.info("user %s logged out", who.login)
        response = web.Response(status=204, headers={"Cache-Control": "no-store"})
        clear_session_cookie(response, secure=request.secure)
        return response

    async def session(request: web.Request, who: Principal) -> web.StreamResponse:
        via = request.get(AUTH_VIA, "basic")
        cookie = request.cookies.get(SESSION_COOKIE)
        csrf = csrf_token(cookie) if via == "session" and cookie is not None else None
        return _no_store({**_who(who.user), "via": via, "csrf_token": csrf})

    async def create_token(request: web.Request, who: Principal) -> web.StreamResponse:
        if request.get(AUTH_VIA) == "token":
            raise NotAllowed("a token cannot create tokens: log in with a password")
        data = await _json_object(request)
        errors = _unknown(data, {"name", "expires"})
        name = _text(data, "name", 100, errors)
        expires_at = None
        raw = data.get("expires")
        if raw is not None:
            try:
                if not isinstance(raw, str):
                    raise ValueError("a duration like 90d or 12h")
                expires_at = identity.clock() + parse_expiry(raw)
            except ValueError as exc:
                errors["expires"] = str(exc)
        if errors:
            raise BadInput("the token has invalid fields", errors=errors)
        token, info = await identity.tokens.create(
            who.user, name.strip(), identity.clock(), expires_at, Actor.user(who.user)
        )
        log.info("user %s created API token %s", who.login, info.id)
        return _no_store({**token_view(info), "token": TOKEN_PREFIX + token}, status=201)

    async def list_tokens(_: web.Request, who: Principal) -> web.StreamResponse:
        tokens = await identity.tokens.for_user(who.user.id)
        return _no_store({"items": [token_view(t) for t in tokens]})

    async def revoke_token(request: web.Request, who: Principal) -> web.StreamResponse:
        try:
            token_id = uuid.UUID(request.match_info["id"])
        except ValueError:
            raise BadInput("not a token id", errors={"id": "not a UUID"}) from None
        try:
            info = await identity.tokens.revoke(
                token_id, identity.clock(), Actor.user(who.user), owner=who.user.id
            )
        except NotFound:
            raise NotThere("no such token of yours") from None
        log.info("user %s revoked API token %s", who.login, info.id)
        return _no_store(token_view(info))

    app.router.add_post("/api/login", login)
    app.router.add_post("/api/logout", anyone(logout))
    app.router.add_get("/api/session", anyone(session), allow_head=False)
    app.router.add_post("/api/tokens", anyone(create_token))
    app.router.add_get("/api/tokens", anyone(list_tokens), allow_head=False)
    app.router.add_delete("/api/tokens/{id}", anyone(revoke_token))
