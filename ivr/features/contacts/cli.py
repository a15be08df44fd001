"""`linja intake token`: the bearer tokens a tenant's SMS, e-mail, chat and web-form gateways
send to `POST /api/intake/T/<channel>`.

    linja intake token add    --tenant SLUG [--expires-in DURATION] [--json]
    linja intake token list   --tenant SLUG [--json]
    linja intake token revoke --tenant SLUG --id TOKEN_ID [--json]
    linja intake token rotate --tenant SLUG [--overlap 24h] [--json]

Tokens are random and stored only as SHA-256 digests: ``add`` and ``rotate`` print the new
token once (stdout; with ``--json`` in the ``token`` field) and it cannot be shown again.
``rotate`` lets the tenant's current tokens work on for ``--overlap`` (default 24h; ``0m``:
they stop at once). Durations: ``30m``, ``24h``, ``7d`` (at most 90 days). Every change is
audited. Exit codes: 0 done, 1 the database failed, 2 bad input (nothing changed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import uuid
from datetime import UTC, datetime, timedelta

from ivr.commands import UsageError
from ivr.config import Settings
from storage.db import make_engine, session_factory
from storage.domain import Actor
from storage.errors import NotFound, StorageError
from storage.repositories.intake_tokens import IntakeTokenInfo, IntakeTokenRepository
from storage.repositories.tenants import TenantRepository

_TENANT = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_DURATION = re.compile(r"^(\d{1,6})([mhd])$")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
MAX_DURATION = timedelta(days=90)
ACTOR = Actor.system("cli:intake")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("intake", help="contact-request webhooks (SMS, e-mail, chat, web)")
    actions = parser.add_subparsers(dest="action", required=True)
    token = actions.add_parser("token", help="a tenant's intake bearer tokens")
    ops = token.add_subparsers(dest="op", required=True)
    for name, text in (
        ("add", "issue a new token (printed once)"),
        ("list", "the tenant's tokens (labels, never the tokens)"),
        ("revoke", "end a token at once"),
        ("rotate", "issue a new token; the current ones work on for --overlap"),
    ):
        p = ops.add_parser(name, help=text)
        p.add_argument("--tenant", required=True, help="tenant slug, e.g. demo")
        p.add_argument("--json", action="store_true", help="JSON output")
        if name == "add":
            p.add_argument("--expires-in", metavar="DURATION", help="e.g. 30d (default: never)")
        if name == "revoke":
            p.add_argument("--id", required=True, help="the token's id (from `list`)")
        if name == "rotate":
            p.add_argument("--overlap", default="24h", help="how long old tokens keep working")
        p.set_defaults(func=_run)


def parse_duration(value: str, what: str, *, zero: bool) -> timedelta:
    m = _DURATION.match(value)
    if m is None or (not zero and int(m[1]) == 0) or int(m[1]) * _UNITS[m[2]] > MAX_DURATION:
        raise UsageError(f"{what}: {value!r} is not a duration like 30m, 24h or 7d (max 90d)")
    return int(m[1]) * _UNITS[m[2]]


def _validate(args: argparse.Namespace) -> dict[str, object]:
    if not _TENANT.match(args.tenant):
        raise UsageError(f"--tenant: not a tenant slug: {args.tenant[:64]!r}")
    checked: dict[str, object] = {}
    if args.op == "add" and args.expires_in is not None:
        checked["expires_in"] = parse_duration(args.expires_in, "--expires-in", zero=False)
    if args.op == "rotate":
        checked["overlap"] = parse_duration(args.overlap, "--overlap", zero=True)
    if args.op == "revoke":
        try:
            checked["id"] = uuid.UUID(args.id)
        except ValueError:
            raise UsageError(f"--id: {args.id[:64]!r} is not a token id") from None
    return checked


def _line(t: IntakeTokenInfo, now: datetime) -> str:
    state = "active" if t.active(now) else "revoked" if t.revoked_at else "expired"
    until = "" if t.expires_at is None else f" until {t.expires_at.isoformat(timespec='seconds')}"
    made = f"created {t.created_at:%Y-%m-%d %H:%M} by {t.created_by}"
    return f"{t.id}  {t.label}…  {state}{until}  {made}"


async def _do(settings: Settings, args: argparse.Namespace, checked: dict[str, object]) -> str:
    engine = make_engine(settings, pool_size=1)
    try:
        sessions = session_factory(engine)
        try:
            tenant = await TenantRepository(sessions).by_slug(args.tenant)
        except NotFound:
            raise UsageError(f"no tenant {args.tenant!r}") from None
        tokens = IntakeTokenRepository(sessions)
        now = datetime.now(UTC)
        doc: dict[str, object]
        if args.op == "add":
            expires_in = checked.get("expires_in")
            expires = now + expires_in if isinstance(expires_in, timedelta) else None
            issued = await tokens.add(tenant.id, ACTOR, expires_at=expires)
            doc = {"token": issued.token, **issued.info.to_dict(now)}
            return json.dumps(doc) if args.json else issued.token
        if args.op == "rotate":
            overlap = checked["overlap"]
            assert isinstance(overlap, timedelta)
            issued, olds = await tokens.rotate(tenant.id, ACTOR, overlap=overlap)
            now = datetime.now(UTC)
            doc = {
                "token": issued.token,
                **issued.info.to_dict(now),
                "old": [o.to_dict(now) for o in olds],
            }
            return json.dumps(doc) if args.json else issued.token
        if args.op == "revoke":
            token_id = checked["id"]
            assert isinstance(token_id, uuid.UUID)
            try:
                info = await tokens.revoke(tenant.id, token_id, ACTOR)
            except NotFound:
                raise UsageError(f"no live token {token_id} of tenant {args.tenant!r}") from None
            return json.dumps(info.to_dict(now)) if args.json else f"revoked {info.id}"
        listed = await tokens.for_tenant(tenant.id)
        if args.json:
            return json.dumps([t.to_dict(now) for t in listed])
        return "\n".join(_line(t, now) for t in listed) or f"tenant {args.tenant!r} has no tokens"
    finally:
        await engine.dispose()


def _run(args: argparse.Namespace) -> int:
    checked = _validate(args)
    try:
        print(asyncio.run(_do(Settings(), args, checked)))
    except StorageError as exc:
        print(f"linja: intake token {args.op} failed: {exc}", file=sys.stderr)
        return 1
    return 0
