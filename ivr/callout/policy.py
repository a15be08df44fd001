"""The call-out's sequencing and retry policy, as pure functions of its state and "now".

Everbridge-style: enough members are *in play* (being called, or waiting for a retry) to
reach the needed confirmations (``needed - confirmed``); a refusal or a final failure frees
a place and the next member (by position) is called. Once ``wait`` has passed with fewer
than needed, every remaining member is in play and the escalation group is added. A member
not reached is retried at once on their next number, and after ``retry_delay`` once every
number was tried, up to ``max_attempts`` and within the call-out's ``window``. At most
``max_parallel`` of a call-out's members are called at once (the dialer's leases hold the
same cap, and the total one, in Postgres).

The call-out ends: ``confirmed`` (needed reached), ``exhausted`` (everyone tried, no
escalation left), ``expired`` (the window passed), or ``cancelled`` by an operator.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

__all__ = [
    "AttemptOutcome",
    "CalloutStatus",
    "Decision",
    "MemberState",
    "MemberView",
    "Plan",
    "after_attempt",
    "decide",
    "number_for",
]


class CalloutStatus(StrEnum):
    RUNNING = "running"
    CONFIRMED = "confirmed"
    EXHAUSTED = "exhausted"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class MemberState(StrEnum):
    PENDING = "pending"  # not called yet, or waiting for a retry
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    FAILED = "failed"  # not reached within the attempts or the window


class AttemptOutcome(StrEnum):
    CONFIRMED = "confirmed"  # pressed 1
    DECLINED = "declined"  # pressed 2
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    NO_KEY = "no_key"  # answered, no valid key (a person who hung up, or a machine)
    WRONG_PIN = "wrong_pin"
    MACHINE = "machine"
    INTERRUPTED = "interrupted"  # its controller died mid-call (lease taken over)
    ANSWERED = "answered"  # ... after the member had answered, before a key: not reached
    ENDED = "ended"  # the call-out ended while the call was up (not an attempt used)


@dataclass(frozen=True, slots=True)
class Plan:
    """What the policy needs of one call-out."""

    needed: int
    started_at: datetime
    wait: timedelta
    window: timedelta
    max_attempts: int
    retry_delay: timedelta
    max_parallel: int
    has_escalation: bool = False
    escalated: bool = False


@dataclass(frozen=True, slots=True)
class MemberView:
    id: uuid.UUID
    position: int
    state: MemberState
    attempts: int  # attempts used so far
    next_at: datetime | None  # not before (a retry); None = now
    busy: bool  # a live lease: a call to them is up or ringing


@dataclass(frozen=True, slots=True)
class Decision:
    done: CalloutStatus | None = None  # the call-out ends with this status
    escalate: bool = False  # add the escalation group now
    call: tuple[uuid.UUID, ...] = ()  # members to call now, in order


def decide(plan: Plan, members: Sequence[MemberView], now: datetime) -> Decision:
    """Who to call now, whether to escalate, whether the call-out is over."""
    confirmed = sum(1 for m in members if m.state is MemberState.CONFIRMED)
    if confirmed >= plan.needed:
        return Decision(done=CalloutStatus.CONFIRMED)
    if now >= plan.started_at + plan.window:
        return Decision(done=CalloutStatus.EXPIRED)
    widened = now >= plan.started_at + plan.wait
    escalate = plan.has_escalation and not plan.escalated and widened
    open_ = sorted((m for m in members if m.state is MemberState.PENDING), key=_order)
    if not open_:
        if plan.has_escalation and not plan.escalated:
            return Decision(escalate=True)
        return Decision(done=CalloutStatus.EXHAUSTED)
    busy = sum(1 for m in open_ if m.busy)
    in_play = sum(1 for m in open_ if m.busy or m.attempts > 0)
    wanted = len(open_) if widened else plan.needed - confirmed
    retries = [m for m in open_ if not m.busy and m.attempts > 0 and _due(m, now)]
    fresh = [m for m in open_ if not m.busy and m.attempts == 0]
    chosen = retries + fresh[: max(0, wanted - in_play)]
    slots = max(0, plan.max_parallel - busy)
    return Decision(escalate=escalate, call=tuple(m.id for m in sorted(chosen, key=_order)[:slots]))


def after_attempt(
    plan: Plan, outcome: AttemptOutcome, attempts: int, numbers: int, ended: datetime
) -> tuple[MemberState, datetime | None]:
    """The member's state (and when to call again) after an attempt; ``attempts`` counts
    that attempt. Not reached: the next number at once, after ``retry_delay`` once all
    ``numbers`` were tried in this round, failed after ``max_attempts`` or past the window."""
    if outcome is AttemptOutcome.CONFIRMED:
        return MemberState.CONFIRMED, None
    if outcome is AttemptOutcome.DECLINED:
        return MemberState.DECLINED, None
    if attempts >= plan.max_attempts:
        return MemberState.FAILED, None
    round_done = attempts % max(1, numbers) == 0
    next_at = ended + plan.retry_delay if round_done else ended
    if next_at >= plan.started_at + plan.window:
        return MemberState.FAILED, None
    return MemberState.PENDING, next_at


def number_for(numbers: Sequence[str], attempt_no: int) -> str:
    """The number of the member's ``attempt_no``-th attempt (1-based): their numbers in
    order of preference, round after round."""
    if not numbers:
        raise ValueError("a member without a number")
    return numbers[(attempt_no - 1) % len(numbers)]


def _order(m: MemberView) -> tuple[int, str]:
    return m.position, str(m.id)


def _due(m: MemberView, now: datetime) -> bool:
    return m.next_at is None or m.next_at <= now
