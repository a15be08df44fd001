"""`linja sweep`: run the retention sweeper once; `linja legal-hold`: exempt audio from it.

    linja sweep [--dry-run] [--batch N] [--now ISO] [--rate FILES_PER_S] [--orphan-grace H]
    linja legal-hold place|release (--recording ID | --voice-message ID) --reason TEXT
        [--by LOGIN]

Exit codes: 0 done (also: skipped because another sweep is running, said on stdout), 1 the
database or the store failed (also when one step failed and the others ran: the summary
names the step), 2 bad arguments (nothing changed).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from datetime import UTC, datetime, timedelta

from ivr.commands import UsageError
from ivr.config import Settings
from recording.journal import RowJournal
from recording.store import AudioStore
from retention.copies import Copies
from retention.sweeper import SweepConfig, Sweeper, SweepReport
from storage.db import make_engine, session_factory
from storage.domain import Actor
from storage.errors import Conflict, NotFound, StorageError
from storage.repositories.callouts import CalloutRepository
from storage.repositories.cases import CaseRepository
from storage.repositories.sweep import AudioTable, SweepLock, SweepRepository
from storage.repositories.transcripts import TranscriptRepository
from storage.repositories.users import UserRepository


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sweep = sub.add_parser("sweep", help="delete audio and personal data past retention")
    sweep.add_argument("--dry-run", action="store_true", help="print what would go; change nothing")
    sweep.add_argument("--batch", default="500", help="rows per transaction (1..50000)")
    sweep.add_argument("--now", help="sweep as if it were this ISO time (tests, catch-up)")
    sweep.add_argument("--rate", help="at most this many files deleted per second")
    sweep.add_argument(
        "--orphan-grace",
        default="24",
        help="hours a file with no database row is kept before it is removed (default 24)",
    )
    sweep.set_defaults(func=_sweep)

    hold = sub.add_parser("legal-hold", help="exempt a recording or voice message from deletion")
    actions = hold.add_subparsers(dest="action", required=True)
    for name, text in (("place", "place a legal hold"), ("release", "release a legal hold")):
        p = actions.add_parser(name, help=text)
        which = p.add_mutually_exclusive_group(required=True)
        which.add_argument("--recording", metavar="ID")
        which.add_argument("--voice-message", metavar="ID")
        p.add_argument("--reason", required=True, help="why (kept in the row and the audit log)")
        p.add_argument("--by", metavar="LOGIN", help="the operator (a Linja user)")
        p.set_defaults(func=_hold, hold=name == "place")


def parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--now: {value!r} is not an ISO time (e.g. 2026-11-22T18:00Z)") from None
    return t.astimezone() if t.tzinfo is None else t


def _int(value: str, what: str, lo: int, hi: int) -> int:
    try:
        n = int(value)
    except ValueError:
        raise UsageError(f"{what}: {value!r} is not a whole number") from None
    if not lo <= n <= hi:
        raise UsageError(f"{what} must be between {lo} and {hi}")
    return n


def _float(value: str, what: str) -> float:
    try:
        n = float(value)
    except ValueError:
        raise UsageError(f"{what}: {value!r} is not a number") from None
    if not n > 0 or n != n or n == float("inf"):
        raise UsageError(f"{what} must be a positive number")
    return n


def config_from(args: argparse.Namespace) -> SweepConfig:
    return SweepConfig(
        batch=_int(args.batch, "--batch", 1, 50_000),
        rate=None if args.rate is None else _float(args.rate, "--rate"),
        orphan_grace=timedelta(hours=_float(args.orphan_grace, "--orphan-grace")),
    )


async def run_sweep(
    settings: Settings, config: SweepConfig, now: datetime | None, *, dry_run: bool
) -> SweepReport:
    engine = make_engine(settings, pool_size=2)
    try:
        sessions = session_factory(engine)
        sweeper = Sweeper(
            SweepRepository(sessions),
            SweepLock(engine),
            CaseRepository(sessions),
            AudioStore(settings.audio_store_dir),
            (lambda: now) if now is not None else (lambda: datetime.now(UTC)),
            config,
            actor=Actor.system("sweep-cli"),
            copies=Copies.in_state(settings.state_dir, settings.export_ttl),
            journal=RowJournal.in_state(settings.state_dir),
            callouts=CalloutRepository(sessions),
            transcripts=TranscriptRepository(sessions),
        )
        return await sweeper.run(dry_run=dry_run, out=print)
    finally:
        await engine.dispose()


def _sweep(args: argparse.Namespace) -> int:
    config = config_from(args)
    now = parse_now(args.now)
    try:
        report = asyncio.run(run_sweep(Settings(), config, now, dry_run=args.dry_run))
    except (StorageError, OSError) as exc:
        print(f"linja: sweep failed: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    for step, error in report.failed.items():
        print(f"linja: sweep step {step!r} failed: {error}", file=sys.stderr)
    return 1 if report.failed else 0


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise UsageError(f"{what}: {value!r} is not an id (a UUID)") from None


async def _set_hold(
    settings: Settings, table: AudioTable, audio_id: uuid.UUID, hold: bool, reason: str, by: str
) -> None:
    engine = make_engine(settings, pool_size=1)
    try:
        sessions = session_factory(engine)
        actor = Actor.system("cli")
        if by:
            try:
                actor = Actor.user(await UserRepository(sessions).by_login(by))
            except NotFound:
                raise UsageError(f"--by: no user {by!r}") from None
        await SweepRepository(sessions).set_hold(table, audio_id, actor, hold=hold, reason=reason)
    finally:
        await engine.dispose()


def _hold(args: argparse.Namespace) -> int:
    table: AudioTable = "recordings" if args.recording else "voice_messages"
    audio_id = _uuid(args.recording or args.voice_message, f"--{table[:-1].replace('_', '-')}")
    reason = args.reason.strip()
    if not reason or len(reason) > 500:
        raise UsageError("--reason must be 1..500 characters")
    try:
        asyncio.run(_set_hold(Settings(), table, audio_id, args.hold, reason, args.by or ""))
    except NotFound as exc:
        raise UsageError(str(exc)) from None
    except Conflict as exc:
        raise UsageError(str(exc)) from None
    except StorageError as exc:
        print(f"linja: legal hold failed: {exc}", file=sys.stderr)
        return 1
    print(f"legal hold {'placed on' if args.hold else 'released from'} {table[:-1]} {audio_id}")
    return 0
