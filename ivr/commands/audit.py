"""`linja audit verify`: check the audit log's hash chain.

Exit 0 with a summary (rows, head id and hash: keep the head somewhere else to detect a
later truncation) when the chain is intact; 1 with the first broken row id when a row was
edited, deleted or reordered, or when the database cannot be read.
"""

from __future__ import annotations

import argparse
import asyncio

from ivr.commands import UsageError
from ivr.config import Settings
from storage.auditchain import ChainReport
from storage.db import short_lived_sessions
from storage.errors import StorageError
from storage.repositories.audit import AuditLog


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("audit", help="the append-only audit log")
    actions = parser.add_subparsers(dest="action", required=True)
    verify = actions.add_parser("verify", help="check the hash chain of the audit log")
    verify.add_argument(
        "--batch", type=int, default=5000, help="rows read per query (default 5000)"
    )
    verify.set_defaults(func=_verify)


async def verify_chain(settings: Settings, *, batch: int = 5000) -> ChainReport:
    async with short_lived_sessions(settings) as sessions:
        return await AuditLog(sessions).verify(batch=batch)


def describe(report: ChainReport) -> str:
    if report.ok:
        if report.rows == 0:
            return "audit log intact: empty"
        return (
            f"audit log intact: {report.rows} rows, head id {report.head_id} "
            f"hash {report.head_hash}"
        )
    return (
        f"audit log BROKEN at row id {report.broken_id}: {report.reason} "
        f"({report.rows - 1} rows before it verified)"
    )


def _verify(args: argparse.Namespace) -> int:
    if args.batch < 1:
        raise UsageError("--batch must be at least 1")
    try:
        report = asyncio.run(verify_chain(Settings(), batch=args.batch))
    except StorageError as exc:
        print(f"linja: audit verify failed: {exc}")
        return 1
    print(describe(report))
    return 0 if report.ok else 1
