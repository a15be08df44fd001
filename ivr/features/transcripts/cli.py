"""`linja transcript`: the redacted transcripts of a tenant as JSON lines (bot training).

    linja transcript show   --tenant SLUG [--since TIME]              to standard output
    linja transcript export --tenant SLUG [--since TIME] --out FILE   to a new file (0600)

One JSON object a line, oldest first: created_at, source (recording / voice_message),
language, language_detected, confidence, audio_seconds, engine, model_sha256, redactions
(placeholder -> count) and text. No case, caller, audio or transcript ids. ``--since``: an
ISO 8601 time (``2026-12-01`` or ``2026-12-01T08:00:00+02:00``; a date is midnight UTC).
Each run is an audit entry (tenant, count; no texts).

Exit codes: 0 done, 1 the database or the disk failed, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from ivr.commands import UsageError
from ivr.config import Settings
from storage.db import make_engine, session_factory
from storage.domain import Actor
from storage.errors import NotFound, StorageError
from storage.repositories.audit import AuditLog
from storage.repositories.tenants import TenantRepository
from storage.repositories.transcripts import TranscriptRepository


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("transcript", help="redacted transcripts as JSON lines")
    actions = parser.add_subparsers(dest="action", required=True)
    for name, text in (
        ("show", "print the tenant's redacted transcripts as JSON lines"),
        ("export", "write them into a new file"),
    ):
        p = actions.add_parser(name, help=text)
        p.add_argument("--tenant", required=True, help="tenant slug")
        p.add_argument("--since", type=_since, help="only transcripts made at or after this")
        if name == "export":
            p.add_argument("--out", required=True, type=Path, help="the file to write (new)")
        p.set_defaults(func=_run)


def _since(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


async def _write(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    engine = make_engine(settings, pool_size=2)
    try:
        sessions = session_factory(engine)
        tenant = await TenantRepository(sessions).by_slug(args.tenant)
        n = 0
        async for row in TranscriptRepository(sessions).export(tenant.id, args.since):
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
        out.flush()
        await AuditLog(sessions).append(
            f"transcript.{args.action}",
            Actor.system("cli"),
            tenant_id=tenant.id,
            target_type="tenant",
            target_id=tenant.id,
            details={"count": n, "since": None if args.since is None else args.since.isoformat()},
        )
        return n
    finally:
        await engine.dispose()


def _run(args: argparse.Namespace) -> int:
    settings = Settings()
    try:
        if args.action == "show":
            asyncio.run(_write(settings, args, sys.stdout))
            return 0
        out: Path = args.out
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise UsageError(f"--out: {out} exists") from None
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            n = asyncio.run(_write(settings, args, fh))
        print(f"wrote {n} transcript(s) to {out}")
    except NotFound as exc:
        raise UsageError(str(exc)) from None
    except (StorageError, OSError) as exc:
        print(f"linja: transcript {args.action} failed: {exc}", file=sys.stderr)
        return 1
    return 0
