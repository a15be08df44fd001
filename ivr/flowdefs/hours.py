"""Opening hours: parsing the weekly table of a flow file, and ``is_open`` (pure, no clock).

In a flow file::

    [hours]
    timezone = "Europe/Helsinki"
    closed = "hangup:closed"            # where callers go outside the hours
    mon-fri = "08:00-16:00"             # a day or a day range: mon tue wed thu fri sat sun
    sat = ["10:00-12:00", "13:00-14:00"]  # several intervals: a list, or "a, b" in one string
    sun = "closed"                      # same as leaving the day out

An interval is ``HH:MM-HH:MM`` in local wall-clock time, open at the start, closed at the end;
``24:00`` ends at midnight. An interval over midnight is written as two, one on each day.
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime, time
from zoneinfo import ZoneInfo

from ivr.flowdefs.model import OpeningHours

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
END_OF_DAY = time.max  # "24:00"

_INTERVAL = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")

Interval = tuple[time, time]


class HoursError(ValueError):
    """A day key or interval that does not parse; the message names the offending text."""


def parse_days(key: str) -> tuple[int, ...]:
    """``mon`` -> (0,), ``mon-fri`` -> (0, 1, 2, 3, 4)."""
    first, sep, last = key.partition("-")
    if first not in DAYS or (sep and last not in DAYS):
        raise HoursError(f"'{key}' is not a day or day range (mon, tue, ..., sun; e.g. mon-fri)")
    a = DAYS.index(first)
    b = DAYS.index(last) if sep else a
    if b < a:
        raise HoursError(f"day range '{key}' runs backwards")
    return tuple(range(a, b + 1))


def parse_intervals(value: str | list[str]) -> tuple[Interval, ...]:
    """``"08:00-11:30, 12:00-16:00"`` or a list of such strings or ``"closed"``; sorted,
    non-overlapping intervals."""
    texts = [value] if isinstance(value, str) else list(value)
    parts = [p.strip() for t in texts for p in t.split(",")]
    if parts == ["closed"]:
        return ()
    intervals = sorted(_parse_interval(p) for p in parts)
    for (_, end), (start, _) in itertools.pairwise(intervals):
        if start < end:
            raise HoursError("intervals overlap")
    return tuple(intervals)


def _parse_interval(text: str) -> Interval:
    m = _INTERVAL.match(text)
    if not m:
        raise HoursError(f"'{text}' is not an interval HH:MM-HH:MM (or \"closed\")")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or not ((h2 < 24 and m2 <= 59) or (h2, m2) == (24, 0)):
        raise HoursError(f"'{text}': no such time of day")
    start = time(h1, m1)
    end = END_OF_DAY if h2 == 24 else time(h2, m2)
    if end <= start:
        raise HoursError(
            f"'{text}' closes before it opens (write an interval over midnight as two days)"
        )
    return start, end


def is_open(hours: OpeningHours | None, at: datetime) -> bool:
    """Whether ``at`` (timezone-aware) falls inside the opening hours, judged by the wall clock
    of the hours' time zone, so a DST change moves the opening in UTC, not in local time.
    No hours table means always open."""
    if hours is None:
        return True
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("is_open needs a timezone-aware datetime")
    local = at.astimezone(ZoneInfo(hours.timezone))
    now = local.time().replace(tzinfo=None)
    return any(
        start <= now and (now < end or end == END_OF_DAY)
        for start, end in hours.week.get(local.weekday(), ())
    )
