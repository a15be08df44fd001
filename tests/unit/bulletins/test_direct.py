"""The Asterisk globals that let the dialplan serve bulletin calls alone
(ivr/bulletins/direct.py)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ivr.ari.errors import AriUnavailable
from ivr.bulletins.direct import PREFIX, DirectRoutes, wanted
from ivr.bulletins.state import NumberState, Prepared

NOW = datetime(2026, 12, 4, 12, 30, 15, tzinfo=UTC)
NID = uuid.UUID(int=7)
B1, B2 = uuid.UUID(int=11), uuid.UUID(int=12)


def prepared(bid: uuid.UUID, starts: datetime, ends: datetime | None) -> Prepared:
    return Prepared(bid, f"sounds/{bid}", 1.0, starts, ends)


class Source:
    def __init__(self) -> None:
        self.states: dict[str, NumberState] = {}
        self.current: dict[str, bool] = {}
        self.looked: list[bool] = []

    def add(self, number: str, *bulletins: Prepared) -> None:
        nothing = prepared(uuid.UUID(int=0), NOW - timedelta(days=9), None)
        self.states[number] = NumberState(NID, number, "demo", "fi", nothing, bulletins)
        self.current[number] = True

    def numbers(self) -> list[str]:
        return sorted(self.states)

    def state(self, number: str) -> NumberState | None:
        return self.states.get(number)

    def fallback_plays(self, number: str, media: Sequence[str], *, look: bool = False) -> bool:
        self.looked.append(look)
        return self.current.get(number, False)

    def next_boundary(self, number: str | None = None) -> datetime | None:
        assert number is not None
        times = [
            t
            for b in self.states[number].bulletins
            for t in (b.starts_at, b.ends_at)
            if t is not None and t > NOW
        ]
        return min(times) if times else None


class Rest:
    def __init__(self) -> None:
        self.globals: dict[str, str] = {}
        self.sets: list[tuple[str, str]] = []
        self.startup = "2026-12-04T08:00:00.000+0000"
        self.down = False

    async def request(self, method: str, path: str, *, params: Any = None, json: Any = None) -> Any:
        if self.down:
            raise AriUnavailable(f"ARI {method} {path}: connection refused")
        if path == "/asterisk/info":
            assert params == {"only": "status"}
            return {"status": {"startup_time": self.startup}}
        assert (method, path) == ("POST", "/asterisk/variable"), (method, path)
        self.globals[params["variable"]] = params["value"]
        self.sets.append((params["variable"], params["value"]))
        return None


def test_the_value_names_the_next_boundary_the_number_and_what_is_heard() -> None:
    src = Source()
    ends = NOW + timedelta(minutes=20, seconds=0.7)
    later = prepared(B2, NOW + timedelta(hours=2), None)
    src.add("100", prepared(B1, NOW - timedelta(hours=1), ends), later)
    assert wanted(src, "100", NOW) == f"{int(ends.timestamp())}:{NID} {B1}"
    assert int(ends.timestamp()) < ends.timestamp()  # floored: never past the boundary
    assert src.looked == [True]  # the file looked for now, not from a cached look


def test_no_bulletin_is_heard_as_dash_until_the_next_start() -> None:
    src = Source()
    starts = NOW + timedelta(minutes=5)
    src.add("100", prepared(B1, starts, None))
    assert wanted(src, "100", NOW) == f"{int(starts.timestamp())}:{NID} -"


def test_nothing_due_is_a_day_ahead_on_the_hour() -> None:
    src = Source()
    src.add("100", prepared(B1, NOW - timedelta(hours=1), None), prepared(B2, NOW, None))
    until = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    assert wanted(src, "100", NOW) == f"{int(until.timestamp())}:{NID} {B1},{B2}"


@pytest.mark.parametrize("number", ["+358401", "10 0", "", "100;x"])
def test_a_number_no_variable_can_be_named_after_is_never_published(number: str) -> None:
    src = Source()
    src.add(number)
    assert wanted(src, number, NOW) == ""


def test_a_file_not_current_and_an_unknown_number_are_empty() -> None:
    src = Source()
    src.add("100")
    src.current["100"] = False
    assert wanted(src, "100", NOW) == ""
    assert wanted(src, "999", NOW) == ""


async def test_published_once_then_only_changes_and_again_after_a_restart() -> None:
    src, rest = Source(), Rest()
    src.add("100")
    src.add("101")
    clock_s = [0.0]
    routes = DirectRoutes(rest, src, lambda: NOW, monotonic=lambda: clock_s[0])
    await routes.publish()
    assert sorted(v for v, _ in rest.sets) == [PREFIX + "100", PREFIX + "101"]
    assert all(value.endswith(f":{NID} -") for _, value in rest.sets)
    await routes.publish()
    assert len(rest.sets) == 2  # nothing changed: nothing sent
    src.current["101"] = False  # its file is being rewritten
    await routes.publish()
    assert rest.sets[-1] == (PREFIX + "101", "") and len(rest.sets) == 3
    # Asterisk restarted: its globals are gone; seen within RECHECK seconds
    rest.globals.clear()
    rest.startup = "2026-12-04T12:30:00.000+0000"
    clock_s[0] = 1.0
    await routes.publish()
    assert len(rest.sets) == 3  # not looked yet
    clock_s[0] = 6.0
    await routes.publish()
    assert rest.globals == {PREFIX + "100": rest.sets[0][1], PREFIX + "101": ""}


async def test_disabled_empties_every_number_once() -> None:
    src, rest = Source(), Rest()
    src.add("100")
    routes = DirectRoutes(rest, src, lambda: NOW, enabled=False)
    await routes.publish()
    await routes.publish()
    assert rest.sets == [(PREFIX + "100", "")]


async def test_a_number_gone_is_emptied_and_forgotten() -> None:
    src, rest = Source(), Rest()
    src.add("100")
    routes = DirectRoutes(rest, src, lambda: NOW)
    await routes.publish()
    del src.states["100"]
    await routes.publish()
    await routes.publish()
    assert [v for _, v in rest.sets][1:] == [""]


async def test_asterisk_down_is_said_once_and_published_when_it_is_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "ivr.bulletins.direct")
    src, rest = Source(), Rest()
    src.add("100")
    routes = DirectRoutes(rest, src, lambda: NOW)
    rest.down = True
    await routes.publish()
    await routes.publish()
    assert caplog.text.count("direct bulletin routes not published") == 1
    rest.down = False
    await routes.publish()
    assert PREFIX + "100" in rest.globals and "published again" in caplog.text
