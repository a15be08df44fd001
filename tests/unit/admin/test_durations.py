"""Retention durations: the one parser (``90d``, ``3m``, ``1y``) and its limits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.admin.durations import (
    RETENTION_MAX,
    RETENTION_MIN,
    BadDuration,
    format_duration,
    parse_duration,
    parse_retention,
)


@pytest.mark.parametrize(
    ("text", "days"),
    [("90d", 90), ("3m", 90), ("1y", 365), ("6w", 42), (" 2 months ", 60), ("1D", 1),
     ("36m", 1080), ("12 months", 360), ("2years", 730)],
)  # fmt: skip
def test_durations_people_write(text: str, days: int) -> None:
    assert parse_retention(text) == timedelta(days=days)


@pytest.mark.parametrize(
    ("text", "why"),
    [("0d", "outside"), ("37m", "outside"), ("3y", "outside"), ("1081d", "outside"),
     ("", "not a duration"), ("3", "not a duration"), ("m3", "not a duration"),
     ("3 fortnights", "not a duration"), ("-3d", "not a duration"), ("1.5m", "not a duration"),
     ("3m2d", "not a duration"), ("\uff19\uff10d", "not a duration"),
     ("99999999999d", "not a duration")],
)  # fmt: skip
def test_bad_durations_say_why(text: str, why: str) -> None:
    with pytest.raises(BadDuration, match=why):
        parse_retention(text)


def test_a_non_string_is_a_bad_duration() -> None:
    with pytest.raises(BadDuration, match="duration string"):
        parse_duration(90)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("days", "text"), [(1, "1d"), (90, "3m"), (365, "1y"), (730, "2y"), (14, "2w"), (360, "12m")]
)
def test_format_is_the_shortest_exact_spelling(days: int, text: str) -> None:
    assert format_duration(timedelta(days=days)) == text


def test_a_value_of_part_days_is_shown_as_python_spells_it() -> None:
    assert format_duration(timedelta(days=1, hours=2)) == "1 day, 2:00:00"


@settings(max_examples=500)
@given(st.integers(min_value=RETENTION_MIN.days, max_value=RETENTION_MAX.days))
def test_every_retention_round_trips_through_its_spelling(days: int) -> None:
    value = timedelta(days=days)
    assert parse_retention(format_duration(value)) == value


@settings(max_examples=1500)
@given(st.text(max_size=30))
def test_any_text_parses_within_the_limits_or_is_a_bad_duration(text: str) -> None:
    try:
        value = parse_retention(text)
    except BadDuration as exc:
        assert str(exc)
    else:
        assert RETENTION_MIN <= value <= RETENTION_MAX
