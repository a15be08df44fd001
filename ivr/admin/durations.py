"""Retention durations as people write them: ``90d``, ``6w``, ``3m``, ``1y``.

One number and one unit: ``d`` days, ``w`` weeks, ``m`` months, ``y`` years (also spelt out:
``90 days``, ``3 months``). A month is 30 days, as Postgres compares intervals, and a year 365
days, as the driver reads ``interval '1 year'``; so ``36m`` (1080 days) is the longest
retention (``3y`` is a little more, and refused) and ``1d`` the shortest.
"""

from __future__ import annotations

import re
from datetime import timedelta

MONTH_DAYS = 30
YEAR_DAYS = 365
RETENTION_MIN = timedelta(days=1)
RETENTION_MAX = timedelta(days=36 * MONTH_DAYS)

_UNITS = {
    "d": 1,
    "day": 1,
    "days": 1,
    "w": 7,
    "week": 7,
    "weeks": 7,
    "m": MONTH_DAYS,
    "month": MONTH_DAYS,
    "months": MONTH_DAYS,
    "y": YEAR_DAYS,
    "year": YEAR_DAYS,
    "years": YEAR_DAYS,
}
_SHAPE = re.compile(r"^([0-9]{1,5})\s*([a-z]+)$")
MAX_TEXT = 20


class BadDuration(ValueError):
    """Not a duration, or one outside the limits; the message says which, for a person."""


def parse_duration(text: str) -> timedelta:
    """The duration ``text`` names (``90d``, ``3m``, ``1y``), or :class:`BadDuration`."""
    if not isinstance(text, str):
        raise BadDuration("must be a duration string like 90d, 3m or 1y")
    cleaned = text.strip().lower()
    m = _SHAPE.match(cleaned) if len(cleaned) <= MAX_TEXT else None
    if m is None or m.group(2) not in _UNITS:
        raise BadDuration(
            f"{_shown(text)} is not a duration: a number and d, w, m or y (e.g. 90d, 3m, 1y)"
        )
    return timedelta(days=int(m.group(1)) * _UNITS[m.group(2)])


def parse_retention(text: str) -> timedelta:
    """A retention duration: :func:`parse_duration` within 1 day .. 36 months."""
    value = parse_duration(text)
    if not RETENTION_MIN <= value <= RETENTION_MAX:
        raise BadDuration(f"{_shown(text)} is outside 1d .. 36m (1 day to 36 months)")
    return value


def format_duration(value: timedelta) -> str:
    """The shortest exact spelling: ``1y``, ``3m``, ``6w`` or ``90d`` (a value set in SQL
    that is not whole days is shown as Python spells it)."""
    days = value.days
    if value != timedelta(days=days):
        return str(value)
    for unit, size in (("y", YEAR_DAYS), ("m", MONTH_DAYS), ("w", 7)):
        if days and days % size == 0:
            return f"{days // size}{unit}"
    return f"{days}d"


def _shown(text: object) -> str:
    shown = repr(text)
    return shown if len(shown) <= 30 else shown[:27] + "..."
