"""`linja token`: personal API tokens of a user (``Authorization: Bearer lpat_…``).

    linja token add    --user LOGIN [--expires 90d] [--name TEXT] [--json]
    linja token list   --user LOGIN [--json]
    linja token revoke ID [--json]

``add`` prints the token once: only its SHA-256 is stored. Tokens are revoked, never
deleted; creation and revocation go to the audit log (actor ``cli``).

Exit codes: 0 done, 1 the database failed, 2 bad arguments (nothing changed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime

from ivr.commands import UsageError
from ivr.config import Settings
from ivr.http.logins import parse_expiry, token_view
from ivr.http.sessions import TOKEN_PREFIX
from storage.db import make_engine, session_factory
from storage.domain import Actor, ApiTokenInfo
from storage.errors import NotFound, StorageError
from storage.repositories.logins import ApiTokenRepository
from storage.repositories.users import UserRepository

ACTOR = Actor.system("cli")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("token", help="personal API tokens: add, list, revoke")
    actions = parser.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="make a token for a user and print it once")
    add.add_argument("--user", required=True, metavar="LOGIN")
    add.add_argument("--expires", metavar="DURATION", help="e.g. 90d or 12h (default: never)")
    add.add_argument("--name", default="cli", help="what the token is for")
    listing = actions.add_parser("list", help="a user's tokens (never the tokens themselves)")
    listing.add_argument("--user", required=True, metavar="LOGIN")
    revoke = actions.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("id", metavar="ID")
    for p in (add, listing, revoke):
        p.add_argument("--json", action="store_true", help="JSON output")
        p.set_defaults(func=_run)


def _line(t: ApiTokenInfo) -> str:
    state = "revoked" if t.revoked_at else "expired" if not t.usable(datetime.now(UTC)) else ""
    expires = t.expires_at.isoformat(timespec="seconds") if t.expires_at else "never"
    used = t.last_used_at.isoformat(timespec="seconds") if t.last_used_at else "never"
    return f"{t.id}  {t.name!r}  expires {expires}  last used {used}  {state}".rstrip()


async def _do(settings: Settings, args: argparse.Namespace) -> object:
    engine = make_engine(settings, pool_size=2)
    try:
        db = session_factory(engine)
        tokens, now = ApiTokenRepository(db), datetime.now(UTC)
        if args.action == "revoke":
            info = await tokens.revoke(args.token_id, now, ACTOR)
            return token_view(info) if args.json else f"revoked {info.id} ({info.name!r})"
        try:
            user = await UserRepository(db).by_login(args.user)
        except NotFound:
            raise UsageError(f"no user {args.user!r}") from None
        if args.action == "list":
            items = await tokens.for_user(user.id)
            if args.json:
                return {"user": user.login, "items": [token_view(t) for t in items]}
            return "\n".join(_line(t) for t in items) or f"{user.login} has no tokens"
        if not user.active:
            raise UsageError(f"user {user.login!r} is disabled")
        expires_at = None if args.expires_span is None else now + args.expires_span
        token, info = await tokens.create(user, args.name, now, expires_at, ACTOR)
        if args.json:
            return {**token_view(info), "user": user.login, "token": TOKEN_PREFIX + token}
        return f"{TOKEN_PREFIX}{token}\n(token {info.id} for {user.login}; shown only once)"
    finally:
        await engine.dispose()


def _check(args: argparse.Namespace) -> None:
    if args.action == "revoke":
        try:
            args.token_id = uuid.UUID(args.id)
        except ValueError:
            raise UsageError(f"not a token id: {args.id[:80]!r}") from None
    if args.action == "add":
        name = args.name.strip()
        if not name or len(name) > 100 or not name.isprintable():
            raise UsageError("--name: 1 to 100 printable characters")
        args.name = name
        try:
            args.expires_span = None if args.expires is None else parse_expiry(args.expires)
        except ValueError as exc:
            raise UsageError(f"--expires: {exc}") from None


def _run(args: argparse.Namespace) -> int:
    _check(args)
    try:
        out = asyncio.run(_do(Settings(), args))
    except NotFound:
        raise UsageError(f"no token {args.id}") from None
    except StorageError as exc:
        print(f"linja: token {args.action} failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(out) if args.json else out)
    return 0
