"""When to dial a callback request again: the retry policy of its queue. Pure, no clock reads.

After a failed customer attempt (no answer, busy, failed) the request is dialled again
``retry_delay`` seconds later, moved forward to the next opening of the dialling hours when
that moment falls outside them; after ``max_attempts`` customer attempts it gives up. Attempts
where no agent answered are not counted (the customer was never called).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ivr.flowdefs import is_open
from ivr.flowdefs.model import CallbackConfig, OpeningHours, Target

__all__ = ["dial_hours", "next_attempt_at", "next_open"]

_WEEK = 8  # days to look ahead for an opening (a week of hours always has one, if any)


def dial_hours(policy: CallbackConfig, tenant_hours: OpeningHours | None) -> OpeningHours | None:
    """The hours customers may be dialled: the queue's callback hours, else the tenant's."""
    if policy.hours is None:
        return tenant_hours
    # closed_target is never used for dialling; OpeningHours is reused for is_open().
    return OpeningHours(policy.hours.timezone, policy.hours.week, Target("hangup", "closed"))


def next_open(hours: OpeningHours | None, at: datetime) -> datetime | None:
    """``at`` if the hours are open then, else the start of the next opening interval;
    None when the hours have no opening at all."""
    if hours is None or is_open(hours, at):
        return at
    zone = ZoneInfo(hours.timezone)
    local = at.astimezone(zone)
    for offset in range(_WEEK):
        day = (local + timedelta(days=offset)).date()
        for start, _end in hours.week.get(day.weekday(), ()):
            candidate = datetime.combine(day, start, tzinfo=zone)
            if candidate > local:
                return candidate.astimezone(at.tzinfo)
    return None


def next_attempt_at(
    policy: CallbackConfig, attempts_done: int, now: datetime, hours: OpeningHours | None
) -> datetime | None:
    """When to dial again after ``attempts_done`` customer attempts; None: give up."""
    if attempts_done >= policy.max_attempts:
        return None
    return next_open(hours, now + timedelta(seconds=policy.retry_delay))
