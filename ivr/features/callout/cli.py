"""`linja group …` and `linja callout …`: staff groups and call-outs (issue 16).

    linja group create        --tenant T --name G [--description D]
    linja group list          --tenant T
    linja group show          --tenant T --group G
    linja group add-member    --tenant T --group G --name N --number X [--number Y ...]
                              [--kind staff|partner] [--pin DIGITS] [--unavailable]
    linja group remove-member --tenant T --member ID
    linja group available     --tenant T --member ID (--yes | --no)
    linja callout start  --tenant T --group G (--message "…" | --audio F) [--needed N] [--wait 10m]
                         [--escalate-to G2] [--pin] [--language fi|sv|en] [--max-parallel K]
                         [--max-attempts A] [--retry-delay 60s] [--ring 30s] [--window 1h]
    linja callout list   --tenant T
    linja callout report ID [--format text|json|csv]
    linja callout cancel ID

A running controller (`linja serve`) dials the call-out. Exit codes: 0 done, 1 the database
failed, 2 bad input (every bad field is named; nothing was started or changed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ivr.callout.service import (
    MAX_AUDIO_BYTES,
    BadCallout,
    CalloutDefaults,
    CalloutService,
    MemberInput,
    StartRequest,
    report_csv,
)
from ivr.commands import UsageError
from ivr.config import Settings
from storage.db import short_lived_sessions
from storage.errors import NotFound, StorageError
from storage.repositories.callouts import CalloutRepository
from storage.repositories.staff import StaffGroupRepository
from storage.repositories.tenants import TenantRepository


def defaults(s: Settings) -> CalloutDefaults:
    return CalloutDefaults(
        max_parallel=s.callout_max_parallel,
        max_attempts=s.callout_max_attempts,
        retry_delay=s.callout_retry_delay,
        ring_seconds=s.callout_ring_seconds,
        window_seconds=s.callout_window,
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _register_group(sub)
    _register_callout(sub)


def _register_group(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("group", help="staff groups called by call-outs")
    actions = parser.add_subparsers(dest="action", required=True)
    p = actions.add_parser("create", help="a new group")
    p.add_argument("--tenant", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--description", default="")
    p.set_defaults(func=_cmd(_group_create))
    p = actions.add_parser("list", help="the tenant's groups")
    p.add_argument("--tenant", required=True)
    p.set_defaults(func=_cmd(_group_list))
    p = actions.add_parser("show", help="a group's members in calling order")
    p.add_argument("--tenant", required=True)
    p.add_argument("--group", required=True)
    p.set_defaults(func=_cmd(_group_show))
    p = actions.add_parser("add-member", help="add a member (called after the others)")
    p.add_argument("--tenant", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--name", required=True)
    p.add_argument(
        "--number", action="append", required=True, help="in order of preference; repeat"
    )
    p.add_argument("--kind", default="staff", help="staff or partner")
    p.add_argument("--pin", help="4-12 digits, asked when a call-out uses --pin")
    p.add_argument("--unavailable", action="store_true", help="not called for now")
    p.set_defaults(func=_cmd(_group_add))
    p = actions.add_parser("remove-member", help="remove a member (their data goes with it)")
    p.add_argument("--tenant", required=True)
    p.add_argument("--member", required=True, help="member id (group show)")
    p.set_defaults(func=_cmd(_group_remove))
    p = actions.add_parser("available", help="whether a member is called")
    p.add_argument("--tenant", required=True)
    p.add_argument("--member", required=True)
    yes_no = p.add_mutually_exclusive_group(required=True)
    yes_no.add_argument("--yes", dest="available", action="store_true")
    yes_no.add_argument("--no", dest="available", action="store_false")
    p.set_defaults(func=_cmd(_group_available))


def _register_callout(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("callout", help="phone a staff group with a message")
    actions = parser.add_subparsers(dest="action", required=True)
    p = actions.add_parser("start", help="start a call-out")
    p.add_argument("--tenant", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--message", default="", help="spoken with text-to-speech")
    p.add_argument("--audio", type=Path, help="the message as audio (any format ffmpeg reads)")
    p.add_argument("--needed", type=int, default=1, help="confirmations needed (default 1)")
    p.add_argument("--wait", default="10m", help="then call everyone left / escalate")
    p.add_argument("--escalate-to", help="a group called when the wait passes")
    p.add_argument("--pin", action="store_true", help="members type their PIN first")
    p.add_argument("--language", help="fi, sv or en (default: the tenant's)")
    p.add_argument("--max-parallel", type=int, help="calls at once (K) for this call-out")
    p.add_argument("--max-attempts", type=int, help="per member")
    p.add_argument("--retry-delay", help="after every number of a member was tried")
    p.add_argument("--ring", help="how long a member's phone rings")
    p.add_argument("--window", help="no call after this (from the start)")
    p.add_argument("--by", default="cli", help="who starts it (kept with the call-out)")
    p.set_defaults(func=_cmd(_callout_start))
    p = actions.add_parser("list", help="the tenant's call-outs, newest first")
    p.add_argument("--tenant", required=True)
    p.set_defaults(func=_cmd(_callout_list))
    p = actions.add_parser("report", help="timeline per member and totals")
    p.add_argument("id")
    p.add_argument("--format", choices=("text", "json", "csv"), default="text")
    p.set_defaults(func=_cmd(_callout_report))
    p = actions.add_parser("cancel", help="end a running call-out")
    p.add_argument("id")
    p.set_defaults(func=_cmd(_callout_cancel))


Action = Callable[[CalloutService, argparse.Namespace], Awaitable[str]]


def _cmd(action: Action) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        settings = Settings()

        async def go() -> str:
            async with short_lived_sessions(settings) as sessions:
                service = CalloutService(
                    TenantRepository(sessions),
                    StaffGroupRepository(sessions),
                    CalloutRepository(sessions),
                    lambda: datetime.now(UTC),
                    defaults=defaults(settings),
                )
                return await action(service, args)

        try:
            print(asyncio.run(go()))
        except BadCallout as exc:
            raise UsageError(str(exc)) from None
        except NotFound as exc:
            raise UsageError(str(exc)) from None
        except StorageError as exc:
            print(f"linja: {args.action} failed: {exc}", file=sys.stderr)
            return 1
        return 0

    return run


def _member_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise BadCallout({"member": "not a member id"}) from None


async def _group_create(svc: CalloutService, a: argparse.Namespace) -> str:
    group = await svc.create_group(await svc.tenant(a.tenant), a.name, a.description)
    return f"group {group.name} created ({group.id})"


async def _group_list(svc: CalloutService, a: argparse.Namespace) -> str:
    tenant = await svc.tenant(a.tenant)
    lines = []
    for g in await svc.groups.groups(tenant.id):
        members = await svc.groups.members(g.id)
        lines.append(f"{g.name}\t{len(members)} members\t{g.id}")
    return "\n".join(lines) or "no groups"


async def _group_show(svc: CalloutService, a: argparse.Namespace) -> str:
    group = await svc.group(await svc.tenant(a.tenant), a.group)
    lines = [f"{group.name} ({group.id})"]
    for m in await svc.groups.members(group.id):
        flags = ", ".join(
            f for f, on in (("PIN", m.has_pin), ("unavailable", not m.available)) if on
        )
        numbers = " ".join(m.numbers)
        lines.append(f"{m.position}\t{m.name}\t{m.kind}\t{numbers}\t{flags}\t{m.id}")
    return "\n".join(lines)


async def _group_add(svc: CalloutService, a: argparse.Namespace) -> str:
    group = await svc.group(await svc.tenant(a.tenant), a.group)
    member = await svc.add_member(
        group,
        MemberInput(
            name=a.name, numbers=a.number, kind=a.kind, pin=a.pin, available=not a.unavailable
        ),
    )
    return f"member {member.name} added to {group.name} ({member.id})"


async def _owned_member(svc: CalloutService, a: argparse.Namespace) -> uuid.UUID:
    tenant = await svc.tenant(a.tenant)
    member_id = _member_id(a.member)
    for g in await svc.groups.groups(tenant.id):
        if any(m.id == member_id for m in await svc.groups.members(g.id)):
            return member_id
    raise BadCallout({"member": f"no member {member_id} in tenant {tenant.slug}"})


async def _group_remove(svc: CalloutService, a: argparse.Namespace) -> str:
    member_id = await _owned_member(svc, a)
    await svc.groups.remove_member(member_id)
    return f"member {member_id} removed"


async def _group_available(svc: CalloutService, a: argparse.Namespace) -> str:
    member_id = await _owned_member(svc, a)
    await svc.groups.set_available(member_id, a.available)
    return f"member {member_id} {'available' if a.available else 'unavailable'}"


def _audio(path: Path | None) -> bytes | None:
    """The file as uploaded (the service converts and checks it)."""
    if path is None:
        return None
    try:
        if path.stat().st_size > MAX_AUDIO_BYTES:
            raise BadCallout({"audio": f"{path}: larger than {MAX_AUDIO_BYTES // 2**20} MiB"})
        return path.read_bytes()
    except OSError as exc:
        raise BadCallout({"audio": f"{path}: {exc.strerror}"}) from None


async def _callout_start(svc: CalloutService, a: argparse.Namespace) -> str:
    audio = await asyncio.to_thread(_audio, a.audio)
    callout_id = await svc.start(
        StartRequest(
            tenant=a.tenant,
            group=a.group,
            message=a.message,
            needed=a.needed,
            wait=a.wait,
            escalate_to=a.escalate_to,
            pin=a.pin,
            language=a.language,
            by=a.by,
            max_parallel=a.max_parallel,
            max_attempts=a.max_attempts,
            retry_delay=a.retry_delay,
            ring=a.ring,
            window=a.window,
            audio=audio,
        )
    )
    return str(callout_id)


async def _callout_list(svc: CalloutService, a: argparse.Namespace) -> str:
    tenant = await svc.tenant(a.tenant)
    rows = await svc.callouts.of_tenant(tenant.id)
    return (
        "\n".join(
            f"{c.id}\t{c.status}\t{c.started_at.isoformat()}\tneeded {c.needed}" for c in rows
        )
        or "no call-outs"
    )


async def _callout_report(svc: CalloutService, a: argparse.Namespace) -> str:
    report = await svc.report(await svc.find(a.id))
    if a.format == "json":
        return json.dumps(report, indent=2, ensure_ascii=False)
    if a.format == "csv":
        return report_csv(report).rstrip("\n")
    return report_text(report)


def report_text(r: dict[str, Any]) -> str:
    t = r["totals"]
    lines = [
        f"call-out {r['id']}: {r['status']} (needed {r['needed']})",
        f"confirmed {t['confirmed']}, declined {t['declined']}, not reached "
        f"{t['not_reached']}, pending {t['pending']}; {t['attempts']} attempts; "
        f"time to {r['needed']} confirmations: "
        + ("-" if t["seconds_to_needed"] is None else f"{t['seconds_to_needed']} s"),
    ]
    for m in r["members"]:
        lines.append(f"{m['position']:>3} {m['name'] or '(erased)'}: {m['state']}")
        for at in m["attempts"]:
            lines.append(
                f"      #{at['attempt']} {at['number'] or '-'} start {at['started_at']} "
                f"answer {at['answered_at'] or '-'} key {at['key'] or '-'} -> {at['outcome']}"
            )
    return "\n".join(lines)


async def _callout_cancel(svc: CalloutService, a: argparse.Namespace) -> str:
    c = await svc.find(a.id)
    if not await svc.cancel(c.id):
        raise BadCallout({"callout": f"not running ({c.status})"})
    return f"call-out {c.id} cancelled"
