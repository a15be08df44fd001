"""is_open: the wall clock of the hours' time zone decides, across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from ivr.flowdefs import is_open
from ivr.flowdefs.hours import END_OF_DAY, HoursError, parse_days, parse_intervals
from ivr.flowdefs.model import OpeningHours, Target


def hours(tz: str = "Europe/Helsinki", **days: str) -> OpeningHours:
    week = {}
    for key, text in days.items():
        for day in parse_days(key.replace("_", "-")):
            week[day] = parse_intervals(text)
    return OpeningHours(timezone=tz, week=week, closed_target=Target("hangup", "closed"))


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


OFFICE = hours(mon_fri="08:00-16:00")


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        # Friday 28 March 2025, EET (UTC+2)
        (utc(2025, 3, 28, 5, 59), False),
        (utc(2025, 3, 28, 6, 0), True),
        (utc(2025, 3, 28, 13, 59), True),
        (utc(2025, 3, 28, 14, 0), False),
        # Monday 31 March 2025, after the spring change: EEST (UTC+3)
        (utc(2025, 3, 31, 4, 59), False),
        (utc(2025, 3, 31, 5, 0), True),
        (utc(2025, 3, 31, 12, 59), True),
        (utc(2025, 3, 31, 13, 0), False),
        # Monday 27 October 2025, after the autumn change: EET again
        (utc(2025, 10, 27, 5, 30), False),
        (utc(2025, 10, 27, 6, 0), True),
        # Saturday
        (utc(2025, 3, 29, 10, 0), False),
    ],
)
def test_office_hours_follow_local_time_across_dst(at: datetime, expected: bool) -> None:
    assert is_open(OFFICE, at) is expected


def test_the_weekday_is_the_local_one() -> None:
    h = hours(sat="00:00-01:00")
    assert is_open(h, utc(2025, 3, 28, 22, 30))  # Friday 22:30 UTC = Saturday 00:30 EET
    assert not is_open(h, utc(2025, 3, 29, 22, 30))  # Saturday 22:30 UTC = Sunday 01:30


def test_the_skipped_and_repeated_hours() -> None:
    spring = hours(sun="03:00-04:00")  # 30 March 2025: 03:00 EET does not exist
    assert not is_open(spring, utc(2025, 3, 30, 0, 59))  # 02:59 EET
    assert not is_open(spring, utc(2025, 3, 30, 1, 0))  # 04:00 EEST
    autumn = hours(sun="03:00-04:00")  # 26 October 2025: 03:00-04:00 happens twice
    assert is_open(autumn, utc(2025, 10, 26, 0, 30))  # 03:30 EEST
    assert is_open(autumn, utc(2025, 10, 26, 1, 30))  # 03:30 EET


def test_until_midnight_and_split_days() -> None:
    h = hours(tz="UTC", sat="00:00-24:00", sun="10:00-11:30, 12:00-14:00")
    assert is_open(h, utc(2025, 3, 29, 0, 0))
    assert is_open(h, utc(2025, 3, 29, 23, 59, 59))
    assert not is_open(h, utc(2025, 3, 30, 11, 45))
    assert is_open(h, utc(2025, 3, 30, 12, 0))
    assert not is_open(h, utc(2025, 3, 31, 0, 0))


def test_no_hours_is_always_open_and_naive_times_are_refused() -> None:
    assert is_open(None, utc(2025, 1, 1, 3, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        is_open(OFFICE, datetime(2025, 3, 28, 9, 0))


def test_parsing() -> None:
    assert parse_days("mon-fri") == (0, 1, 2, 3, 4)
    assert parse_days("sun") == (6,)
    assert parse_intervals(["12:00-13:00", "08:00-11:00"]) == (
        (time(8), time(11)),
        (time(12), time(13)),
    )
    assert parse_intervals("00:00-24:00") == ((time(0), END_OF_DAY),)
    assert parse_intervals("closed") == ()
    for bad, message in [
        ("8:00-16:00", "is not an interval"),
        ("08:00-24:30", "no such time of day"),
        ("16:00-08:00", "closes before it opens"),
        ("08:00-12:00,11:00-13:00", "overlap"),
    ]:
        with pytest.raises(HoursError, match=message):
            parse_intervals(bad)
    for bad in ("fri-mon", "weekdays", "mon-"):
        with pytest.raises(HoursError):
            parse_days(bad)
