"""`linja subject`: the data-subject rights of one person (access, erasure, restriction).

    linja subject export     --tenant SLUG (--phone N | --email E) --by LOGIN [--out DIR]
    linja subject erase      --tenant SLUG (--phone N | --email E) --by LOGIN [--ref TICKET]
    linja subject restrict   --tenant SLUG (--phone N | --email E) --by LOGIN [--reason TEXT]
    linja subject unrestrict --tenant SLUG (--phone N | --email E) --by LOGIN

``--by`` names the operator, an active admin user: exports are logged as listening events
by them, and erasures and restrictions carry their name in the ledger and the audit log.
Phone numbers match in any spelling (0401234567 = +358401234567); e-mail ignores case.

Exit codes: 0 done, 1 the database or the disk failed, 2 bad arguments (nothing changed).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from ivr.commands import UsageError
from ivr.config import Settings
from recording.store import AudioStore
from retention.copies import Copies
from retention.errors import RetentionError
from retention.rights import SubjectRights, subject_of
from storage.db import make_engine, session_factory
from storage.errors import NotFound, StorageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("subject", help="export, erase or restrict one person's data")
    actions = parser.add_subparsers(dest="action", required=True)
    for name, text in (
        ("export", "write everything about the person (JSON + audio) into a new directory"),
        ("erase", "delete the person's audio and blank their personal data; keep a ledger"),
        ("restrict", "stop processing: no recording, no callback dialling; nothing deleted"),
        ("unrestrict", "lift a restriction"),
    ):
        p = actions.add_parser(name, help=text)
        p.add_argument("--tenant", required=True, help="tenant slug")
        p.add_argument("--phone", help="phone number, any spelling")
        p.add_argument("--email", help="e-mail address")
        p.add_argument("--by", required=True, metavar="LOGIN", help="the operator (an admin)")
        if name == "export":
            p.add_argument("--out", default=".", help="directory to put the bundle in")
        if name == "erase":
            p.add_argument("--ref", help="the request's ticket reference (kept in the ledger)")
        if name == "restrict":
            p.add_argument("--reason", help="why (kept with the restriction)")
        p.set_defaults(func=_run)


async def _do(settings: Settings, args: argparse.Namespace) -> str:
    subject = subject_of(args.phone, args.email)
    engine = make_engine(settings, pool_size=2)
    try:
        rights = SubjectRights(
            session_factory(engine),
            AudioStore(settings.audio_store_dir),
            lambda: datetime.now(UTC),
            copies=Copies.in_state(settings.state_dir, settings.export_ttl),
        )
        tenant = await rights.tenant(args.tenant)
        by = await rights.operator(args.by)
        if args.action == "export":
            res = await rights.export(tenant, subject, Path(args.out), by)
            counts = ", ".join(f"{v} {k}" for k, v in res.counts.items() if v) or "nothing found"
            return f"exported to {res.bundle}: {counts}; {res.audio_files} audio files"
        if args.action == "erase":
            er = await rights.erase(tenant, subject, by, request_ref=args.ref)
            counts = ", ".join(f"{v} {k}" for k, v in er.ledger.counts.items())
            return f"erased ({counts}); ledger entry {er.ledger.id}"
        if args.action == "restrict":
            rr = await rights.restrict(tenant, subject, by, reason=args.reason)
            return f"restricted ({rr.cases_marked} cases marked); restriction {rr.restriction.id}"
        n = await rights.lift(tenant, subject, by)
        return f"lifted {n} restriction(s)"
    finally:
        await engine.dispose()


def _run(args: argparse.Namespace) -> int:
    if not args.phone and not args.email:
        raise UsageError("give --phone or --email")
    if args.action == "export" and not Path(args.out).is_dir():
        raise UsageError(f"--out: {args.out} is not a directory")
    try:
        print(asyncio.run(_do(Settings(), args)))
    except RetentionError as exc:
        raise UsageError(str(exc)) from None
    except NotFound as exc:
        raise UsageError(str(exc)) from None
    except (StorageError, OSError) as exc:
        print(f"linja: subject {args.action} failed: {exc}", file=sys.stderr)
        return 1
    return 0
