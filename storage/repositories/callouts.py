"""Call-outs as the dialer, the CLI and the API see them: the call-out rows, its members
with their leases, and one row per dial attempt, each written as it happens.

Who dials a member is decided by a **claim**: in one transaction, under one advisory lock
(``pg_advisory_xact_lock``: claims are serialised across controllers), the member's row is
locked ``FOR UPDATE SKIP LOCKED``, the live leases of the call-out and of all call-outs are
counted, and the lease (the dialers' lease, :mod:`storage.repositories._lease`, shared with
the callback requests) is taken only below both caps. So two controllers never exceed a cap
and never call one member at once. A lease older than ``lease`` seconds belongs to a dead
controller (taken over only when ``takeovers``): the claim that takes it over closes its open
attempt as ``interrupted``, or as ``answered`` when the member had answered it (one attempt
used either way), and returns its channel ids so the new holder can hang the orphaned leg up
before dialling. With ``down_after`` (the heartbeats', see :mod:`storage.repositories._lease`) a
lease whose holder is down by its heartbeat is expired at once: a lost node's members are
called again by a surviving controller within the heartbeat bound, not the lease. A
confirmation or a refusal is stored with the attempt that got it, before the member hears
the thanks, so a confirmed member is never called again.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Interval, and_, cast, false, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.domain import Actor
from storage.models import (
    Callout,
    CalloutAttempt,
    CalloutMember,
    StaffGroupMember,
    Tenant,
)
from storage.repositories._lease import Lease, LeaseAttempts, down_controllers
from storage.repositories._uow import timestamptz, transaction
from storage.repositories.audit import AuditLog

log = logging.getLogger(__name__)

__all__ = [
    "AttemptRow",
    "CalloutMemberRow",
    "CalloutRepository",
    "CalloutRow",
    "Claim",
    "NewCallout",
]

_CLAIM_LOCK = 0x6C696E6A61  # pg_advisory_xact_lock key of call-out claims


@dataclass(frozen=True, slots=True)
class NewCallout:
    tenant_id: uuid.UUID
    group_id: uuid.UUID
    escalate_group_id: uuid.UUID | None
    message: str
    language: str
    needed: int
    wait_seconds: int
    window_seconds: int
    max_attempts: int
    retry_delay: int
    ring_seconds: int
    max_parallel: int
    pin_required: bool
    created_by: str
    audio: bytes | None = None  # an uploaded message (8 kHz wav) instead of the text


@dataclass(frozen=True, slots=True)
class CalloutRow:
    id: uuid.UUID
    tenant_id: uuid.UUID
    tenant: str  # slug
    group_id: uuid.UUID | None
    escalate_group_id: uuid.UUID | None
    message: str
    audio_sha256: str | None
    language: str
    needed: int
    wait_seconds: int
    window_seconds: int
    max_attempts: int
    retry_delay: int
    ring_seconds: int
    max_parallel: int
    pin_required: bool
    status: str
    started_at: datetime
    escalated_at: datetime | None
    ended_at: datetime | None
    created_by: str


@dataclass(frozen=True, slots=True)
class CalloutMemberRow:
    id: uuid.UUID  # callout_members.id
    callout_id: uuid.UUID
    member_id: uuid.UUID | None  # None once the member was erased
    position: int
    escalation: bool
    state: str
    attempts: int
    next_at: datetime | None
    dialing_by: str | None
    dialing_since: datetime | None
    decided_at: datetime | None
    name: str | None
    numbers: tuple[str, ...]
    pin_hash: str | None
    holder_down: bool = False  # dialing_by is down by its heartbeat: the lease is expired


@dataclass(frozen=True, slots=True)
class AttemptRow:
    callout_member_id: uuid.UUID
    attempt_no: int
    number: str | None
    channel_id: str
    controller: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    key: str | None
    outcome: str | None


@dataclass(frozen=True, slots=True)
class Claim:
    member: CalloutMemberRow
    orphans: tuple[str, ...]  # channels of a dead controller's open attempts: hang them up


def _callout(c: Callout, slug: str) -> CalloutRow:
    return CalloutRow(
        id=c.id,
        tenant_id=c.tenant_id,
        tenant=slug,
        group_id=c.group_id,
        escalate_group_id=c.escalate_group_id,
        message=c.message,
        audio_sha256=c.audio_sha256,
        language=c.language,
        needed=c.needed,
        wait_seconds=c.wait_seconds,
        window_seconds=c.window_seconds,
        max_attempts=c.max_attempts,
        retry_delay=c.retry_delay,
        ring_seconds=c.ring_seconds,
        max_parallel=c.max_parallel,
        pin_required=c.pin_required,
        status=c.status,
        started_at=c.started_at,
        escalated_at=c.escalated_at,
        ended_at=c.ended_at,
        created_by=c.created_by,
    )


def _member(
    cm: CalloutMember, m: StaffGroupMember | None, holder_down: bool = False
) -> CalloutMemberRow:
    return CalloutMemberRow(
        id=cm.id,
        callout_id=cm.callout_id,
        member_id=cm.member_id,
        position=cm.position,
        escalation=cm.escalation,
        state=cm.state,
        attempts=cm.attempts,
        next_at=cm.next_at,
        dialing_by=cm.dialing_by,
        dialing_since=cm.dialing_since,
        decided_at=cm.decided_at,
        name=None if m is None else m.name,
        numbers=() if m is None else (m.phone_number, *(m.other_numbers or ())),
        pin_hash=None if m is None else m.pin_hash,
        holder_down=holder_down,
    )


def _attempt(a: CalloutAttempt) -> AttemptRow:
    return AttemptRow(
        callout_member_id=a.callout_member_id,
        attempt_no=a.attempt_no,
        number=a.number,
        channel_id=a.channel_id,
        controller=a.controller,
        started_at=a.started_at,
        answered_at=a.answered_at,
        ended_at=a.ended_at,
        key=a.key,
        outcome=a.outcome,
    )


LEASE = Lease(
    CalloutMember, CalloutMember.dialing_by, CalloutMember.dialing_since, CalloutMember.id
)
ATTEMPTS = LeaseAttempts(
    parent=CalloutAttempt.callout_member_id,
    started=CalloutAttempt.started_at,
    ended=CalloutAttempt.ended_at,
    answered=CalloutAttempt.answered_at,
    result=CalloutAttempt.outcome,
    interrupted="interrupted",
    answered_result="answered",  # reached, cut off before a key: not reached (retried)
    channel=CalloutAttempt.channel_id,
)


async def _add_members(
    s: AsyncSession, callout_id: uuid.UUID, group_id: uuid.UUID, *, escalation: bool
) -> int:
    """The group's available members join the call-out after those it has; returns how many."""
    after = await s.scalar(
        select(func.coalesce(func.max(CalloutMember.position), 0)).where(
            CalloutMember.callout_id == callout_id
        )
    )
    already = select(CalloutMember.member_id).where(
        CalloutMember.callout_id == callout_id, CalloutMember.member_id.is_not(None)
    )
    # One person in both groups (the same first number) is called once, as the first.
    taken = select(StaffGroupMember.phone_number).where(StaffGroupMember.id.in_(already))
    members = (
        await s.scalars(
            select(StaffGroupMember)
            .where(
                StaffGroupMember.group_id == group_id,
                StaffGroupMember.available.is_(True),
                StaffGroupMember.id.not_in(already),
                StaffGroupMember.phone_number.not_in(taken),
            )
            .order_by(StaffGroupMember.position, StaffGroupMember.name)
        )
    ).all()
    for i, m in enumerate(members, start=int(after or 0) + 1):
        s.add(
            CalloutMember(
                id=uuid.uuid4(),
                callout_id=callout_id,
                member_id=m.id,
                position=i,
                escalation=escalation,
            )
        )
    await s.flush()
    return len(members)


class CalloutRepository:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, down_after: float | None = None
    ) -> None:
        """``down_after``: a lease whose holder's heartbeat is that old is expired at once
        (None: leases expire by their age alone)."""
        self._down_after = down_after
        self._sessions = sessions

    # -- starting, ending -----------------------------------------------------------------

    async def create(self, new: NewCallout) -> uuid.UUID:
        """A running call-out with the group's available members, in their order."""
        callout_id = uuid.uuid4()
        async with transaction(self._sessions) as s:
            s.add(
                Callout(
                    id=callout_id,
                    tenant_id=new.tenant_id,
                    group_id=new.group_id,
                    escalate_group_id=new.escalate_group_id,
                    message=new.message,
                    audio=new.audio,
                    audio_sha256=None
                    if new.audio is None
                    else hashlib.sha256(new.audio).hexdigest(),
                    language=new.language,
                    needed=new.needed,
                    wait_seconds=new.wait_seconds,
                    window_seconds=new.window_seconds,
                    max_attempts=new.max_attempts,
                    retry_delay=new.retry_delay,
                    ring_seconds=new.ring_seconds,
                    max_parallel=new.max_parallel,
                    pin_required=new.pin_required,
                    created_by=new.created_by,
                )
            )
            await s.flush()
            await _add_members(s, callout_id, new.group_id, escalation=False)
        return callout_id

    async def escalate(self, callout_id: uuid.UUID, now: datetime) -> int:
        """Adds the escalation group's members once; returns how many joined (0 if it was
        escalated already, by this or another controller)."""
        async with transaction(self._sessions) as s:
            row = await s.scalar(
                select(Callout)
                .where(
                    Callout.id == callout_id,
                    Callout.status == "running",
                    Callout.escalated_at.is_(None),
                )
                .with_for_update()
            )
            if row is None:
                return 0
            row.escalated_at = now
            if row.escalate_group_id is None:
                return 0
            return await _add_members(s, callout_id, row.escalate_group_id, escalation=True)

    async def finish(self, callout_id: uuid.UUID, status: str, now: datetime) -> bool:
        """Ends a running call-out; False if it had ended already."""
        async with transaction(self._sessions) as s:
            result = await s.execute(
                update(Callout)
                .where(Callout.id == callout_id, Callout.status == "running")
                .values(status=status, ended_at=now)
                .returning(Callout.id)
            )
            return result.first() is not None

    # -- reading ---------------------------------------------------------------------------

    async def get(self, callout_id: uuid.UUID) -> CalloutRow | None:
        async with transaction(self._sessions) as s:
            found = (
                await s.execute(
                    select(Callout, Tenant.slug)
                    .join(Tenant, Tenant.id == Callout.tenant_id)
                    .where(Callout.id == callout_id)
                )
            ).first()
            return None if found is None else _callout(*found)

    async def audio(self, callout_id: uuid.UUID) -> bytes:
        """The call-out's uploaded message (StorageError-free: b"" when there is none)."""
        async with transaction(self._sessions) as s:
            data = await s.scalar(select(Callout.audio).where(Callout.id == callout_id))
            return data or b""

    async def running(self) -> list[CalloutRow]:
        async with transaction(self._sessions) as s:
            rows = await s.execute(
                select(Callout, Tenant.slug)
                .join(Tenant, Tenant.id == Callout.tenant_id)
                .where(Callout.status == "running")
                .order_by(Callout.started_at)
            )
            return [_callout(c, slug) for c, slug in rows.all()]

    async def of_tenant(self, tenant_id: uuid.UUID, limit: int = 100) -> list[CalloutRow]:
        async with transaction(self._sessions) as s:
            rows = await s.execute(
                select(Callout, Tenant.slug)
                .join(Tenant, Tenant.id == Callout.tenant_id)
                .where(Callout.tenant_id == tenant_id)
                .order_by(Callout.started_at.desc())
                .limit(limit)
            )
            return [_callout(c, slug) for c, slug in rows.all()]

    async def members(self, callout_id: uuid.UUID) -> list[CalloutMemberRow]:
        async with transaction(self._sessions) as s:
            down: Any = false()
            if self._down_after is not None:
                down = CalloutMember.dialing_by.in_(down_controllers(self._down_after))
            rows = await s.execute(
                select(CalloutMember, StaffGroupMember, down)
                .outerjoin(StaffGroupMember, StaffGroupMember.id == CalloutMember.member_id)
                .where(CalloutMember.callout_id == callout_id)
                .order_by(CalloutMember.position)
            )
            return [_member(cm, m, bool(d)) for cm, m, d in rows.all()]

    async def attempts(self, callout_id: uuid.UUID) -> list[AttemptRow]:
        async with transaction(self._sessions) as s:
            rows = await s.scalars(
                select(CalloutAttempt)
                .join(CalloutMember, CalloutMember.id == CalloutAttempt.callout_member_id)
                .where(CalloutMember.callout_id == callout_id)
                .order_by(CalloutAttempt.started_at, CalloutAttempt.attempt_no)
            )
            return [_attempt(a) for a in rows]

    # -- retention -------------------------------------------------------------------------

    async def blank_expired_numbers(
        self, tenant_id: uuid.UUID, now: datetime, actor: Actor, *, limit: int
    ) -> int:
        """Retention, one transaction: of the tenant's call-outs that have ended, blanks the
        number of up to ``limit`` attempts older than its ``case_retention``, and unlinks up
        to ``limit`` members of call-outs that ended before it from their group membership
        (the report then names nobody; places, states, outcomes and times stay), with one
        audit entry. Returns how many rows changed; rows locked by someone else are skipped
        (the next sweep takes them)."""
        retention = (
            select(cast(Tenant.case_retention, Interval))
            .where(Tenant.id == tenant_id)
            .scalar_subquery()
        )
        cutoff = timestamptz(now) - retention
        ended = and_(Callout.tenant_id == tenant_id, Callout.status != "running")
        picked = (
            select(CalloutAttempt.id)
            .join(CalloutMember, CalloutMember.id == CalloutAttempt.callout_member_id)
            .join(Callout, Callout.id == CalloutMember.callout_id)
            .where(ended, CalloutAttempt.number.is_not(None), CalloutAttempt.started_at < cutoff)
            .order_by(CalloutAttempt.started_at)
            .limit(limit)
            .with_for_update(of=CalloutAttempt, skip_locked=True)
            .cte("picked")
        )
        linked = (
            select(CalloutMember.id)
            .join(Callout, Callout.id == CalloutMember.callout_id)
            .where(
                ended,
                CalloutMember.member_id.is_not(None),
                func.coalesce(Callout.ended_at, Callout.started_at) < cutoff,
            )
            .order_by(CalloutMember.id)
            .limit(limit)
            .with_for_update(of=CalloutMember, skip_locked=True)
            .cte("linked")
        )
        async with transaction(self._sessions) as s:
            blanked = (
                await s.execute(
                    update(CalloutAttempt)
                    .where(CalloutAttempt.id == picked.c.id)
                    .values(number=None)
                    .returning(CalloutAttempt.id)
                )
            ).all()
            unlinked = (
                await s.execute(
                    update(CalloutMember)
                    .where(CalloutMember.id == linked.c.id)
                    .values(member_id=None)
                    .returning(CalloutMember.id)
                )
            ).all()
            if blanked or unlinked:
                await AuditLog.append_in(
                    s,
                    "retention.callout_attempts",
                    actor,
                    tenant_id=tenant_id,
                    details={"callout_attempts": len(blanked), "callout_members": len(unlinked)},
                )
            return len(blanked) + len(unlinked)

    # -- leases ----------------------------------------------------------------------------

    async def claim(
        self,
        callout_member_id: uuid.UUID,
        controller: str,
        now: datetime,
        *,
        lease: float,
        total_cap: int,
        takeovers: bool = True,
    ) -> Claim | None:
        """Takes the member's lease if they may be called now and both caps allow another
        call; None otherwise (:meth:`claim_many` of one)."""
        claims = await self.claim_many(
            [callout_member_id], controller, now, lease=lease, total_cap=total_cap,
            takeovers=takeovers,
        )  # fmt: skip
        return claims[0] if claims else None

    async def claim_many(
        self,
        callout_member_ids: Sequence[uuid.UUID],
        controller: str,
        now: datetime,
        *,
        lease: float,
        total_cap: int,
        takeovers: bool = True,
    ) -> list[Claim]:
        """In one transaction under the claim lock, the leases of as many of the members
        (of one call-out, in the order given) as may be called now and both caps leave room
        for; locked rows are skipped, never waited for. ``takeovers`` False: not a member
        whose expired lease another controller held."""
        if not callout_member_ids:
            return []
        async with transaction(self._sessions) as s:
            await s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CLAIM_LOCK})
            found = (
                await s.execute(
                    LEASE.claimable(
                        select(CalloutMember, Callout.max_parallel)
                        .join(Callout, Callout.id == CalloutMember.callout_id)
                        .where(
                            CalloutMember.id.in_(list(callout_member_ids)),
                            CalloutMember.state == "pending",
                            CalloutMember.member_id.is_not(None),
                            Callout.status == "running",
                            or_(CalloutMember.next_at.is_(None), CalloutMember.next_at <= now),
                            LEASE.free(
                                now, lease, takeovers=takeovers, down_after=self._down_after
                            ),
                        )
                    )
                )
            ).all()
            if not found:
                return []
            order = {member_id: i for i, member_id in enumerate(callout_member_ids)}
            rows = sorted((row for row, _ in found), key=lambda r: order[r.id])
            callouts = {row.callout_id for row in rows}
            live = await s.execute(
                select(CalloutMember.callout_id, func.count())
                .join(Callout, Callout.id == CalloutMember.callout_id)
                .where(Callout.status == "running", LEASE.live(now, lease, self._down_after))
                .group_by(CalloutMember.callout_id)
            )
            per = dict(live.tuples().all())
            room_total = total_cap - sum(per.values())
            room = {
                cid: cap - per.get(cid, 0) for cid, cap in {(r.callout_id, c) for r, c in found}
            }
            taken: list[CalloutMember] = []
            for row in rows:
                if room_total <= 0:
                    break
                if room[row.callout_id] <= 0:
                    continue
                room_total -= 1
                room[row.callout_id] -= 1
                taken.append(row)
            orphans = []
            for row in taken:
                orphans.append(await self._take_over(s, row, controller, now))
                LEASE.take(row, controller, now)
            await s.flush()
            people = {
                m.id: m
                for m in await s.scalars(
                    select(StaffGroupMember).where(
                        StaffGroupMember.id.in_([row.member_id for row in taken])
                    )
                )
            }
            log.debug(
                "claims of %s in %d call-out(s): %d of %d asked",
                controller, len(callouts), len(taken), len(callout_member_ids),
            )  # fmt: skip
            return [
                Claim(_member(row, people.get(row.member_id) if row.member_id else None), left)
                for row, left in zip(taken, orphans, strict=True)
            ]

    @staticmethod
    async def _take_over(
        s: AsyncSession, row: CalloutMember, controller: str, now: datetime
    ) -> tuple[str, ...]:
        """A lease that ran out (its controller died mid-call): closes what it left open
        and returns the channels to hang up."""
        if row.dialing_by is None:
            return ()
        log.warning(
            "[callout %s] member %s: lease of %s expired; taken over by %s",
            row.callout_id, row.id, row.dialing_by, controller,
        )  # fmt: skip
        dead = await ATTEMPTS.close_dead(s, row.id, now)
        if dead.answered:
            log.warning(
                "[callout %s] member %s had answered the dead controller's call: "
                "attempt closed as answered",
                row.callout_id, row.id,
            )  # fmt: skip
        row.attempts += dead.count
        return dead.channels

    async def renew(self, callout_member_id: uuid.UUID, controller: str, now: datetime) -> bool:
        async with transaction(self._sessions) as s:
            return await LEASE.renew(s, callout_member_id, controller, now)

    async def release(
        self,
        callout_member_id: uuid.UUID,
        controller: str,
        *,
        state: str | None = None,
        now: datetime | None = None,
        next_at: datetime | None = None,
    ) -> None:
        """Gives the lease back without an attempt; optionally with the member's new state
        (a restricted member is ``failed`` without being called; after a take-over the
        interrupted attempt is judged like any other: retried at ``next_at`` or failed)."""
        values: dict[str, object] = {}
        if state is not None:
            values.update(state=state, next_at=next_at)
            if state != "pending":
                values["decided_at"] = now
        async with transaction(self._sessions) as s:
            await LEASE.release(s, callout_member_id, controller, values)

    # -- attempts --------------------------------------------------------------------------

    async def start_attempt(
        self,
        callout_member_id: uuid.UUID,
        number: str,
        channel_id: str,
        controller: str,
        now: datetime,
    ) -> int:
        """A new attempt row (before the member's phone rings); returns its number."""
        async with transaction(self._sessions) as s:
            last = await s.scalar(
                select(func.coalesce(func.max(CalloutAttempt.attempt_no), 0)).where(
                    CalloutAttempt.callout_member_id == callout_member_id
                )
            )
            number_no = int(last or 0) + 1
            await s.execute(
                insert(CalloutAttempt).values(
                    id=uuid.uuid4(),
                    callout_member_id=callout_member_id,
                    attempt_no=number_no,
                    number=number,
                    channel_id=channel_id,
                    controller=controller,
                    started_at=now,
                )
            )
            return number_no

    async def attempt_answered(
        self, callout_member_id: uuid.UUID, attempt_no: int, at: datetime
    ) -> None:
        async with transaction(self._sessions) as s:
            await s.execute(
                update(CalloutAttempt)
                .where(
                    CalloutAttempt.callout_member_id == callout_member_id,
                    CalloutAttempt.attempt_no == attempt_no,
                )
                .values(answered_at=func.greatest(CalloutAttempt.started_at, at))
            )

    async def interrupt_leg(self, channel_id: str, at: datetime) -> int:
        """The attempt of a member leg whose controller died: closed as ``interrupted`` (or
        ``answered``; its lease, if still held, expires as usual). Returns how many."""
        async with transaction(self._sessions) as s:
            return (await ATTEMPTS.close(s, CalloutAttempt.channel_id == channel_id, at)).count

    async def end_attempt(
        self,
        callout_member_id: uuid.UUID,
        attempt_no: int,
        controller: str,
        at: datetime,
        *,
        outcome: str,
        key: str | None,
        state: str,
        next_at: datetime | None,
        counts: bool = True,
        keep_lease: bool = False,
    ) -> bool:
        """Ends the attempt and decides the member in one transaction; the lease is given
        back unless ``keep_lease`` (a confirmed member still hears the thanks). False if the
        lease was lost meanwhile (the attempt is still ended; the member is not changed)."""
        async with transaction(self._sessions) as s:
            await s.execute(
                update(CalloutAttempt)
                .where(
                    CalloutAttempt.callout_member_id == callout_member_id,
                    CalloutAttempt.attempt_no == attempt_no,
                    CalloutAttempt.ended_at.is_(None),
                )
                .values(
                    ended_at=func.greatest(CalloutAttempt.started_at, at), outcome=outcome, key=key
                )
            )
            values: dict[str, object] = {
                "attempts": CalloutMember.attempts + (1 if counts else 0),
                "state": state,
                "next_at": next_at,
            }
            if state != "pending":
                values["decided_at"] = at
            if keep_lease:
                return await LEASE.update_held(s, callout_member_id, controller, values)
            return await LEASE.release(s, callout_member_id, controller, values)
