"""Counting the calls the dialplan served alone from its heard files (ivr/bulletins/heard.py)."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.bulletins.counter import CallCounter
from ivr.bulletins.heard import HeardFiles, parse_line
from ivr.flows.fastpath import HandedLog
from tests.unit.bulletins.test_counter import Sink

NID = uuid.UUID(int=7)
B1, B2 = uuid.UUID(int=11), uuid.UUID(int=12)
AT = int(datetime(2026, 12, 4, 12, 30, 15, tzinfo=UTC).timestamp())
HOUR = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


class Events:
    def __init__(self) -> None:
        self.started = self.ended = 0

    def flow_started(self, flow: str) -> None:
        assert flow == "announcement"
        self.started += 1

    def flow_ended(self, flow: str) -> None:
        self.ended += 1

    def flow_shed(self, flow: str, reason: str) -> None:
        raise AssertionError("nothing is shed here")


def line(channel: str, ids: str = f"{B1}", at: int = AT) -> str:
    return f"{at} {channel} 100 {NID} {ids}\n"


def write(directory: Path, *lines: str, number: str = "100") -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / f"{number}.log").open("a") as f:
        f.write("".join(lines))


def rig(tmp_path: Path) -> tuple[Path, Sink, CallCounter, HeardFiles, Events]:
    sink = Sink()
    counter = CallCounter(sink, tmp_path / "journal", lambda: datetime.now(UTC))
    events = Events()
    heard = tmp_path / "heard"
    heard.mkdir()
    return heard, sink, counter, HeardFiles(heard, counter, lambda: events, HandedLog().add), events


def test_a_line_names_the_hour_the_number_and_what_was_heard() -> None:
    heard = parse_line(line("1796000000.12", f"{B1},{B2}"))
    assert heard is not None
    assert (heard.channel, heard.number, heard.bulletins) == ("1796000000.12", "100", (B1, B2))
    assert list(heard.counter_keys()) == [(NID, B1, HOUR), (NID, B2, HOUR)]
    nothing = parse_line(line("c", "-"))
    assert nothing is not None and list(nothing.counter_keys()) == [(NID, None, HOUR)]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "x c 100 {n} -",
        "1 c 100 not-a-uuid -",
        "1 c 100 {n} {n},oops",
        "1 c 100 {n}",  # the variable emptied between the check and the write
        "1 c 100 {n} - extra",
        "99999999999999999999 c 100 {n} -",
    ],
)
def test_what_is_not_a_line_is_none(text: str) -> None:
    assert parse_line(text.format(n=NID)) is None


async def test_a_file_is_counted_at_the_take_after_it_was_set_aside(tmp_path: Path) -> None:
    heard, sink, counter, files, events = rig(tmp_path)
    write(heard, line("a"), line("b", "-"))
    assert files.take() == 0  # set aside: a line may still be landing
    assert not (heard / "100.log").exists() and len(list(heard.glob("*.taken"))) == 1
    write(heard, line("c"))  # the dialplan's next line starts a new file
    assert files.take() == 2
    assert list(heard.glob("*.taken")) != [] and not (heard / "100.log").exists()
    assert files.take() == 3 and list(heard.iterdir()) == []
    assert (events.started, events.ended) == (3, 3)
    assert await counter.flush()
    assert sink.rows == {(NID, B1, HOUR): 2, (NID, None, HOUR): 1}


async def test_files_left_by_a_dead_controller_are_counted_at_the_first_take(
    tmp_path: Path,
) -> None:
    heard, sink, _counter, files, _events = rig(tmp_path)
    write(heard, line("a"))
    files.take()  # set aside, then this controller is killed
    journal = tmp_path / "journal"
    nxt = CallCounter(sink, journal, lambda: datetime.now(UTC))
    events = Events()
    assert HeardFiles(heard, nxt, lambda: events, HandedLog().add).take() == 1
    assert await nxt.flush() and sink.rows == {(NID, B1, HOUR): 1}
    assert list(heard.iterdir()) == [] and list(journal.glob("*.log")) == []


async def test_killed_after_journalling_before_deleting_counts_once(tmp_path: Path) -> None:
    heard, sink, counter, files, _events = rig(tmp_path)
    write(heard, line("a"), line("b"))
    files.take()
    (aside,) = heard.glob("*.taken")
    kept = aside.read_bytes()
    files.take()  # journalled and deleted ...
    aside.write_bytes(kept)  # ... as if the kill came before the delete
    journal = tmp_path / "journal"
    nxt = CallCounter(sink, journal, lambda: datetime.now(UTC))
    nxt.replay()  # the segment of the dead controller
    # the same id: one segment
    assert HeardFiles(heard, nxt, lambda: Events(), HandedLog().add).take() == 2
    assert await nxt.flush() and sink.rows == {(NID, B1, HOUR): 2}
    assert await counter.flush() and sink.rows == {(NID, B1, HOUR): 2}  # stored once


async def test_an_unwritable_journal_leaves_the_file_for_the_next_take(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    heard, sink, counter, files, events = rig(tmp_path)
    (tmp_path / "journal").write_text("a file where the directory should be")
    write(heard, line("a"))
    files.take()
    assert files.take() == 0 and len(list(heard.glob("*.taken"))) == 1
    assert "not writable" in caplog.text and events.started == 0
    (tmp_path / "journal").unlink()
    assert files.take() == 1 and list(heard.iterdir()) == []
    assert await counter.flush() and sink.rows == {(NID, B1, HOUR): 1}


async def test_lines_not_understood_are_said_and_the_rest_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    heard, sink, counter, files, _events = rig(tmp_path)
    write(heard, line("a"), "garbage\n", "\xff\xfe\n", line("b"), "1 c 100")  # torn last line
    files.take()
    assert files.take() == 2
    assert "3 line(s) of heard file" in caplog.text
    assert await counter.flush() and sink.rows == {(NID, B1, HOUR): 2}


async def test_the_channels_are_named_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    heard, _sink, _counter, files, _events = rig(tmp_path)
    write(heard, line("1796.1"), line("1796.2"))
    files.take()
    files.take()
    assert "[1796.1] handed to the fallback file of 100" in caplog.text
    assert "[1796.2] handed to the fallback file of 100" in caplog.text


def test_a_file_without_a_uuid_name_is_left_alone(tmp_path: Path) -> None:
    heard, _sink, _counter, files, events = rig(tmp_path)
    (heard / "foreign.taken").write_text(line("a"))
    files.take()
    files.take()
    assert (heard / "foreign.taken").exists() and events.started == 0
