"""Groups and call-outs for the CLI and the API: validation naming every bad field, starting
and cancelling a call-out, and its report (a timeline per member and the totals).

Everything is checked before anything is written: an unknown group, an empty message, more
confirmations needed than the group has available members, a wait of zero or less, a bad
number in a member, an uploaded message that is not audio ffmpeg reads, or is shorter than
0.1 s, longer than :data:`MAX_AUDIO_SECONDS` or larger than :data:`MAX_AUDIO_BYTES` ->
:class:`BadCallout` (``errors`` by field), and nothing is started.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ivr.audio import AudioError, to_asterisk_wav, wav_duration
from ivr.clock import Clock
from ivr.telephony.numbers import InvalidNumber, parse_number
from ivr.texts import LANGUAGES
from storage.domain import StaffGroupView, StaffMemberView, TenantInfo
from storage.errors import NotFound
from storage.models.staff import MEMBER_KINDS
from storage.passwords import Hasher
from storage.repositories.callouts import CalloutRepository, CalloutRow, NewCallout
from storage.repositories.staff import StaffGroupRepository
from storage.repositories.tenants import TenantRepository

__all__ = [
    "MAX_AUDIO_BYTES",
    "MAX_AUDIO_SECONDS",
    "BadCallout",
    "CalloutDefaults",
    "CalloutService",
    "StartRequest",
    "parse_duration",
    "report_csv",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$")
_UNITS = {None: 1, "s": 1, "m": 60, "h": 3600}
_PIN = re.compile(r"^[0-9]{4,12}$")
MAX_MESSAGE = 2000
MAX_AUDIO_BYTES = 20 * 1024 * 1024  # an uploaded message, as uploaded
MAX_AUDIO_SECONDS = 300.0


class BadCallout(ValueError):
    """Bad input: ``errors`` names every bad field; nothing was changed."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def parse_duration(text: str | float | int) -> float:
    """Seconds in ``90``, ``90s``, ``10m``, ``1.5h``; ValueError otherwise (may be <= 0)."""
    if isinstance(text, bool):
        raise ValueError("not a duration")
    if isinstance(text, int | float):
        return float(text)
    if text.strip().startswith("-"):
        return -1.0
    m = _DURATION.match(text)
    if m is None:
        raise ValueError("a duration like 90s, 10m or 1h")
    return float(m.group(1)) * _UNITS[m.group(2)]


@dataclass(frozen=True)
class CalloutDefaults:
    """Per-call-out settings (``LINJA_CALLOUT_*``)."""

    max_parallel: int = 10  # K per call-out
    max_attempts: int = 3
    retry_delay: int = 60
    ring_seconds: int = 30
    window_seconds: int = 3600


@dataclass(frozen=True)
class StartRequest:
    tenant: str
    group: str
    message: str
    needed: int = 1
    wait: str | float = "10m"
    escalate_to: str | None = None
    pin: bool = False
    language: str | None = None  # the tenant's when None
    by: str = "cli"
    max_parallel: int | None = None
    max_attempts: int | None = None
    retry_delay: str | float | None = None
    ring: str | float | None = None
    window: str | float | None = None
    audio: bytes | None = None  # an uploaded message, any format ffmpeg reads (validated)


@dataclass(frozen=True)
class MemberInput:
    name: str
    numbers: Sequence[str]
    kind: str = "staff"
    pin: str | None = None
    available: bool = True


class CalloutService:
    def __init__(
        self,
        tenants: TenantRepository,
        groups: StaffGroupRepository,
        callouts: CalloutRepository,
        clock: Clock,
        *,
        defaults: CalloutDefaults = CalloutDefaults(),
        hasher: Hasher | None = None,
        on_start: Callable[[], None] = lambda: None,
    ) -> None:
        self._tenants = tenants
        self.groups = groups
        self.callouts = callouts
        self._clock = clock
        self._defaults = defaults
        self._hasher = hasher or Hasher()
        self._on_start = on_start

    async def tenant(self, slug: str) -> TenantInfo:
        try:
            return await self._tenants.by_slug(slug)
        except NotFound:
            raise BadCallout({"tenant": f"no tenant {slug!r}"}) from None

    async def group(self, tenant: TenantInfo, name: str, field: str = "group") -> StaffGroupView:
        group = await self.groups.group_named(tenant.id, name)
        if group is None:
            raise BadCallout({field: f"no group {name!r} in tenant {tenant.slug}"})
        return group

    # -- groups ----------------------------------------------------------------------------

    async def create_group(
        self, tenant: TenantInfo, name: str, description: str = ""
    ) -> StaffGroupView:
        name = name.strip()
        if not name or len(name) > 200:
            raise BadCallout({"name": "a name of 1-200 characters"})
        if await self.groups.group_named(tenant.id, name) is not None:
            raise BadCallout({"name": f"group {name!r} exists"})
        return await self.groups.create_group(tenant.id, name, description=description[:500])

    async def add_member(self, group: StaffGroupView, member: MemberInput) -> StaffMemberView:
        numbers = await self._check_member(group, member, None)
        pin_hash = await self._hasher.hash(member.pin) if member.pin else None
        return await self.groups.add_member(
            group.id,
            member.name.strip(),
            numbers[0],
            kind=member.kind,
            other_numbers=tuple(numbers[1:]),
            pin_hash=pin_hash,
            available=member.available,
        )

    async def update_member(
        self, group: StaffGroupView, member_id: uuid.UUID, member: MemberInput
    ) -> StaffMemberView:
        """Replaces the member's name, numbers, kind and availability; the PIN: ``None``
        keeps it, ``""`` removes it, digits set a new one. Checked as :meth:`add_member`."""
        if member_id not in {m.id for m in await self.groups.members(group.id)}:
            raise NotFound("staff group member", member_id)
        numbers = await self._check_member(group, member, member_id)
        pin: str | bool | None = False  # False: keep
        if member.pin == "":
            pin = None
        elif member.pin is not None:
            pin = await self._hasher.hash(member.pin)
        return await self.groups.update_member(
            member_id,
            name=member.name.strip(),
            numbers=tuple(numbers),
            kind=member.kind,
            available=member.available,
            pin_hash=pin,
        )

    async def remove_member(self, group: StaffGroupView, member_id: uuid.UUID) -> None:
        """Removes the member and their name, numbers and PIN (call-outs keep the member's
        place and outcomes; the numbers in their attempts go with the tenant's retention)."""
        if member_id not in {m.id for m in await self.groups.members(group.id)}:
            raise NotFound("staff group member", member_id)
        await self.groups.remove_member(member_id)

    async def _check_member(
        self, group: StaffGroupView, member: MemberInput, member_id: uuid.UUID | None
    ) -> list[str]:
        """The member's numbers, normalised; BadCallout naming every bad field."""
        errors: dict[str, str] = {}
        name = member.name.strip()
        if not name or len(name) > 200:
            errors["name"] = "a name of 1-200 characters"
        numbers: list[str] = []
        if not member.numbers:
            errors["numbers"] = "at least one number"
        for i, raw in enumerate(member.numbers):
            try:
                numbers.append(str(parse_number(raw)))
            except InvalidNumber as exc:
                errors[f"numbers[{i}]"] = str(exc)
        if len(set(numbers)) != len(numbers):
            errors["numbers"] = "a number is given twice"
        if member.kind not in MEMBER_KINDS:
            errors["kind"] = f"one of {', '.join(MEMBER_KINDS)}"
        clears = member.pin == "" and member_id is not None  # an edit removing the PIN
        if member.pin is not None and not clears and not _PIN.match(member.pin):
            errors["pin"] = "4-12 digits"
        if numbers and any(
            m.phone_number == numbers[0] and m.id != member_id
            for m in await self.groups.members(group.id)
        ):
            errors["numbers[0]"] = "already a member's first number in this group"
        if errors:
            raise BadCallout(errors)
        return numbers

    # -- call-outs -------------------------------------------------------------------------

    async def start(self, req: StartRequest) -> uuid.UUID:
        """Validates everything, then starts the call-out; raises BadCallout (nothing
        started) with every bad field."""
        errors: dict[str, str] = {}
        try:
            tenant = await self.tenant(req.tenant)
        except BadCallout as exc:
            raise BadCallout({**exc.errors}) from None
        message = req.message.strip() if isinstance(req.message, str) else ""
        audio = await _message_audio(req.audio, errors)
        if not message and req.audio is None:
            errors["message"] = "required (the text spoken to the members, or audio)"
        elif len(message) > MAX_MESSAGE:
            errors["message"] = f"at most {MAX_MESSAGE} characters"
        language = req.language or tenant.language
        if language not in LANGUAGES:
            errors["language"] = f"one of {', '.join(LANGUAGES)}"
        d = self._defaults
        wait = _seconds(req.wait, "wait", errors)
        retry = _seconds(
            req.retry_delay if req.retry_delay is not None else d.retry_delay, "retry_delay", errors
        )
        ring = _seconds(req.ring if req.ring is not None else d.ring_seconds, "ring", errors)
        window = _seconds(
            req.window if req.window is not None else d.window_seconds, "window", errors
        )
        max_parallel = _positive(
            req.max_parallel if req.max_parallel is not None else d.max_parallel,
            "max_parallel",
            errors,
        )
        max_attempts = _positive(
            req.max_attempts if req.max_attempts is not None else d.max_attempts,
            "max_attempts",
            errors,
        )
        needed = _positive(req.needed, "needed", errors)
        group = await self.groups.group_named(tenant.id, req.group)
        if group is None:
            errors["group"] = f"no group {req.group!r} in tenant {tenant.slug}"
        escalate: StaffGroupView | None = None
        if req.escalate_to:
            escalate = await self.groups.group_named(tenant.id, req.escalate_to)
            if escalate is None:
                errors["escalate_to"] = f"no group {req.escalate_to!r} in tenant {tenant.slug}"
            elif group is not None and escalate.id == group.id:
                errors["escalate_to"] = "the group itself"
        available = 0
        for g, field in ((group, "group"), (escalate, "escalate_to")):
            if g is None:
                continue
            members = [m for m in await self.groups.members(g.id) if m.available]
            available += len(members)
            if req.pin and any(not m.has_pin for m in members):
                errors.setdefault("pin", f"members of {g.name!r} without a PIN")
            for m in members:
                for n in m.numbers:
                    try:
                        parse_number(n)
                    except InvalidNumber as exc:
                        errors.setdefault(field, f"member {m.name!r}: bad number ({exc})")
        if (
            group is not None
            and needed is not None
            and needed > available
            and "group" not in errors
        ):
            errors["needed"] = (
                f"{needed} confirmations needed but only {available} members available"
            )
        if errors or group is None or needed is None or wait is None:
            raise BadCallout(errors)
        assert retry is not None and ring is not None and window is not None
        assert max_parallel is not None and max_attempts is not None
        callout_id = await self.callouts.create(
            NewCallout(
                tenant_id=tenant.id,
                group_id=group.id,
                escalate_group_id=None if escalate is None else escalate.id,
                message=message,
                audio=audio,
                language=language,
                needed=needed,
                wait_seconds=max(1, round(wait)),
                window_seconds=max(1, round(window)),
                max_attempts=max_attempts,
                retry_delay=round(retry),
                ring_seconds=max(1, round(ring)),
                max_parallel=max_parallel,
                pin_required=req.pin,
                created_by=req.by[:100],
            )
        )
        self._on_start()
        return callout_id

    async def cancel(self, callout_id: uuid.UUID) -> bool:
        """Ends a running call-out (its calls are ended politely by their dialer)."""
        return await self.callouts.finish(callout_id, "cancelled", self._clock())

    async def find(self, raw: str, tenant_id: uuid.UUID | None = None) -> CalloutRow:
        try:
            callout_id = uuid.UUID(raw)
        except ValueError:
            raise BadCallout({"callout": "not a call-out id"}) from None
        row = await self.callouts.get(callout_id)
        if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
            raise NotFound("call-out", callout_id)
        return row

    async def report(self, c: CalloutRow) -> dict[str, Any]:
        """Totals and a timeline per member (each attempt: number, start, answer, key,
        outcome), JSON-ready."""
        members = await self.callouts.members(c.id)
        attempts = await self.callouts.attempts(c.id)
        by_member: dict[uuid.UUID, list[dict[str, Any]]] = {m.id: [] for m in members}
        for a in attempts:
            by_member.setdefault(a.callout_member_id, []).append(
                {
                    "attempt": a.attempt_no,
                    "number": a.number,
                    "started_at": _iso(a.started_at),
                    "answered_at": _iso(a.answered_at),
                    "ended_at": _iso(a.ended_at),
                    "key": a.key,
                    "outcome": a.outcome,
                }
            )
        confirmed = sorted(m.decided_at for m in members if m.state == "confirmed" and m.decided_at)
        reached_n = confirmed[c.needed - 1] if len(confirmed) >= c.needed else None
        return {
            "id": str(c.id),
            "tenant": c.tenant,
            "status": c.status,
            "message": c.message,
            "audio": c.audio_sha256 is not None,
            "language": c.language,
            "needed": c.needed,
            "started_at": _iso(c.started_at),
            "escalated_at": _iso(c.escalated_at),
            "ended_at": _iso(c.ended_at),
            "totals": {
                "members": len(members),
                "confirmed": sum(1 for m in members if m.state == "confirmed"),
                "declined": sum(1 for m in members if m.state == "declined"),
                "not_reached": sum(1 for m in members if m.state == "failed"),
                "pending": sum(1 for m in members if m.state == "pending"),
                "attempts": len(attempts),
                "seconds_to_needed": None
                if reached_n is None
                else round((reached_n - c.started_at).total_seconds(), 1),
            },
            "members": [
                {
                    "position": m.position,
                    "name": m.name,
                    "escalation": m.escalation,
                    "state": m.state,
                    "attempts": by_member.get(m.id, []),
                }
                for m in members
            ],
        }


def report_csv(report: dict[str, Any]) -> str:
    """One line per attempt (members never called: one line without an attempt)."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(
        [
            "position",
            "name",
            "state",
            "attempt",
            "number",
            "started_at",
            "answered_at",
            "ended_at",
            "key",
            "outcome",
        ]
    )
    for m in report["members"]:
        head = [m["position"], m["name"], m["state"]]
        if not m["attempts"]:
            w.writerow([*head, "", "", "", "", "", "", ""])
        for a in m["attempts"]:
            w.writerow(
                [
                    *head,
                    a["attempt"],
                    a["number"],
                    a["started_at"],
                    a["answered_at"],
                    a["ended_at"],
                    a["key"],
                    a["outcome"],
                ]
            )
    return out.getvalue()


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


async def _message_audio(raw: bytes | None, errors: dict[str, str]) -> bytes | None:
    """The uploaded message as the 8 kHz wav Asterisk plays; None (and ``errors["audio"]``)
    when it is not usable audio, is too short, too long or too large."""
    if raw is None:
        return None
    if len(raw) > MAX_AUDIO_BYTES:
        errors["audio"] = f"larger than {MAX_AUDIO_BYTES // 2**20} MiB"
        return None
    try:
        wav = await asyncio.to_thread(to_asterisk_wav, raw)
    except AudioError as exc:
        errors["audio"] = str(exc)
        return None
    seconds = wav_duration(wav)
    if seconds > MAX_AUDIO_SECONDS:
        errors["audio"] = f"{seconds:.0f} s long: at most {MAX_AUDIO_SECONDS:.0f} s"
        return None
    return wav


def _seconds(raw: str | float | None, field: str, errors: dict[str, str]) -> float | None:
    try:
        value = parse_duration(raw if raw is not None else "")
    except (ValueError, TypeError):
        errors[field] = "a duration like 90s, 10m or 1h"
        return None
    if value <= 0:
        errors[field] = "must be more than 0"
        return None
    return value


def _positive(raw: object, field: str, errors: dict[str, str]) -> int | None:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        errors[field] = "a whole number of at least 1"
        return None
    return raw
