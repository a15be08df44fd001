"""`linja bulletin set | clear | list`.

Bad input (unknown number, end before start, empty text, unreadable audio, unknown
language) is reported in one line with exit code 2 and changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ivr.audio import AudioError, to_asterisk_wav
from ivr.commands import UsageError
from ivr.config import Settings
from storage.db import short_lived_sessions
from storage.repositories.bulletins import BulletinRepository, BulletinView, UnknownNumber

LANGUAGES = ("fi", "sv", "en")
MAX_AUDIO_BYTES = 20 * 1024 * 1024
_DURATION = re.compile(r"^(\d+)([mhd])$")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("bulletin", help="manage disruption bulletins")
    actions = parser.add_subparsers(dest="action", required=True)

    put = actions.add_parser("set", help="add a bulletin to a number")
    put.add_argument("--number", required=True, help="service number, e.g. 100")
    put.add_argument("--text", help="bulletin text (spoken with text-to-speech)")
    put.add_argument("--audio", type=Path, help="audio file (any format ffmpeg reads)")
    put.add_argument("--language", default="fi", help="fi, sv or en (default fi)")
    put.add_argument("--starts-at", help="ISO time; naive times are local (default: now)")
    end = put.add_mutually_exclusive_group()
    end.add_argument("--ends-at", help="ISO time; naive times are local (default: no end)")
    end.add_argument("--for", dest="for_", help="duration from start: 30m, 4h, 2d")
    put.set_defaults(func=_set)

    clear = actions.add_parser("clear", help="end a number's current and upcoming bulletins")
    clear.add_argument("--number", required=True)
    clear.add_argument("--id", help="only this bulletin")
    clear.set_defaults(func=_clear)

    lst = actions.add_parser("list", help="current and upcoming bulletins")
    lst.add_argument("--number")
    lst.add_argument("--all", action="store_true", help="include ended and cleared ones")
    lst.set_defaults(func=_list)


def parse_time(value: str, what: str) -> datetime:
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{what}: {value!r} is not an ISO time (e.g. 2026-11-22T18:00)") from None
    return t.astimezone() if t.tzinfo is None else t


def parse_duration(value: str) -> timedelta:
    m = _DURATION.match(value)
    if not m or int(m.group(1)) == 0:
        raise UsageError(f"--for: {value!r} is not a duration like 30m, 4h or 2d")
    n, unit = int(m.group(1)), m.group(2)
    return {"m": timedelta(minutes=n), "h": timedelta(hours=n), "d": timedelta(days=n)}[unit]


def _validate_set(
    args: argparse.Namespace, now: datetime
) -> tuple[str | None, bytes | None, datetime, datetime | None]:
    if args.language not in LANGUAGES:
        raise UsageError(f"--language: {args.language!r} is not one of {', '.join(LANGUAGES)}")
    text = args.text
    if text is not None and not text.strip():
        raise UsageError("--text is empty")
    if text is None and args.audio is None:
        raise UsageError("give --text or --audio (or both)")
    audio = None
    if args.audio is not None:
        path: Path = args.audio
        try:
            if path.stat().st_size > MAX_AUDIO_BYTES:
                raise UsageError(f"--audio {path}: larger than {MAX_AUDIO_BYTES // 2**20} MiB")
            raw = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"--audio {path}: {exc.strerror}") from None
        try:
            audio = to_asterisk_wav(raw)
        except AudioError as exc:
            raise UsageError(f"--audio {path}: {exc}") from None
    starts = parse_time(args.starts_at, "--starts-at") if args.starts_at else now
    ends = None
    if args.ends_at:
        ends = parse_time(args.ends_at, "--ends-at")
    elif args.for_:
        ends = starts + parse_duration(args.for_)
    if ends is not None and ends <= starts:
        raise UsageError(f"end {ends.isoformat()} is not after start {starts.isoformat()}")
    if ends is not None and ends <= now:
        raise UsageError(f"end {ends.isoformat()} is already in the past")
    return text.strip() if text else None, audio, starts, ends


def _set(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    text, audio, starts, ends = _validate_set(args, now)

    async def go() -> BulletinView:
        async with short_lived_sessions(Settings()) as sessions:
            return await BulletinRepository(sessions).add(
                number=args.number,
                language=args.language,
                text_=text,
                audio=audio,
                starts_at=starts,
                ends_at=ends,
            )

    try:
        view = asyncio.run(go())
    except UnknownNumber as exc:
        raise UsageError(f"--number: {exc}") from None
    print(
        f"bulletin {view.id} on {view.number} from {view.starts_at.isoformat()}"
        f" until {view.ends_at.isoformat() if view.ends_at else 'cleared'}"
    )
    return 0


def _clear(args: argparse.Namespace) -> int:
    bid = None
    if args.id:
        try:
            bid = uuid.UUID(args.id)
        except ValueError:
            raise UsageError(f"--id: {args.id!r} is not a bulletin id") from None

    async def go() -> int:
        async with short_lived_sessions(Settings()) as sessions:
            repo = BulletinRepository(sessions)
            return await repo.clear(number=args.number, now=datetime.now(UTC), bulletin_id=bid)

    try:
        n = asyncio.run(go())
    except UnknownNumber as exc:
        raise UsageError(f"--number: {exc}") from None
    print(f"cleared {n} bulletin(s) on {args.number}")
    return 0


def _list(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)

    async def go() -> list[BulletinView]:
        async with short_lived_sessions(Settings()) as sessions:
            repo = BulletinRepository(sessions)
            return await repo.listing(args.number, include_ended=args.all, now=now)

    for v in asyncio.run(go()):
        state = "active" if v.active_at(now) else ("upcoming" if v.starts_at > now else "ended")
        content = (v.text or "")[:60] + (" [audio]" if v.audio_sha256 else "")
        until = v.ends_at.isoformat() if v.ends_at else "-"
        print(
            f"{v.id} {v.number} {state:<8} {v.language} {v.starts_at.isoformat()} {until} {content}"
        )
    return 0
