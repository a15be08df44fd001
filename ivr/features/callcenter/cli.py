"""`linja agent`: the agents' phone logins (`*50`).

    linja agent unlock --login LOGIN [--json]   clear the failed PIN guesses and the lock
    linja agent lock-status --login LOGIN [--json]

A phone login is locked after repeated wrong PINs (:mod:`storage.phone_lock`); an unlock is
audited (``user.phone_unlock``). Exit codes: 0 done, 1 the database failed, 2 bad input
(an unknown login; nothing changed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from ivr.commands import UsageError
from ivr.config import Settings
from storage.db import make_engine, session_factory
from storage.domain import Actor
from storage.errors import NotFound, StorageError
from storage.passwords import Hasher
from storage.repositories.phone_logins import PhoneLogins
from storage.repositories.users import UserRepository


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("agent", help="agents' phone logins")
    actions = parser.add_subparsers(dest="action", required=True)
    for name, text in (
        ("unlock", "clear a phone login's failed PIN guesses and its lock"),
        ("lock-status", "a phone login's failed PIN guesses and lock"),
    ):
        p = actions.add_parser(name, help=text)
        p.add_argument("--login", required=True, help="the agent's Linja login, e.g. agent1")
        p.add_argument("--json", action="store_true", help="JSON output")
        p.set_defaults(func=_run)


async def _do(settings: Settings, args: argparse.Namespace) -> str:
    engine = make_engine(settings, pool_size=1)
    try:
        sessions = session_factory(engine)
        try:
            user = await UserRepository(sessions).by_login(args.login[:100])
        except NotFound:
            raise UsageError(f"no user {args.login[:100]!r}") from None
        logins = PhoneLogins(sessions, Hasher())
        if args.action == "unlock":
            cleared = await logins.unlock(user.id, Actor.system("cli:agent"))
            doc: dict[str, object] = {"login": user.login, "failures_cleared": cleared}
            text = f"{user.login}: unlocked ({cleared} failed guesses cleared)"
        else:
            failures, until = await logins.state(user.id)
            doc = {
                "login": user.login,
                "failures": failures,
                "locked_until": None if until is None else until.isoformat(),
            }
            text = f"{user.login}: {failures} failed guesses" + (
                "" if until is None else f", locked until {until.isoformat(timespec='seconds')}"
            )
        return json.dumps(doc) if args.json else text
    finally:
        await engine.dispose()


def _run(args: argparse.Namespace) -> int:
    try:
        print(asyncio.run(_do(Settings(), args)))
    except StorageError as exc:
        print(f"linja: agent {args.action} failed: {exc}", file=sys.stderr)
        return 1
    return 0
