"""Rows of callback recordings go straight to the table: retried while the database is down,
given up (with the file left for an operator) when the case does not exist."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from recording.attached import AttachedRecordings
from recording.journal import RowJournal
from storage.errors import NotFound, StorageUnavailable
from storage.events import CaseEnded, Outcome, RecordingCompleted

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def completed() -> RecordingCompleted:
    return RecordingCompleted(
        uuid.uuid4(), uuid.uuid4(), "rec-x", "t/recordings/2026/11/x.wav", AT,
        timedelta(seconds=7), 1000, "0" * 64,
    )  # fmt: skip


class Rows:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls: list[RecordingCompleted] = []

    async def attach(self, event: RecordingCompleted) -> bool:
        self.calls.append(event)
        if self.failures:
            raise self.failures.pop(0)
        return True


async def test_a_row_is_retried_while_the_database_is_down(tmp_path: Path) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    rows = Rows([StorageUnavailable("down"), StorageUnavailable("down")])
    sink = AttachedRecordings(rows, journal=RowJournal(tmp_path), first_delay=0.5, sleep=sleep)
    event = completed()
    sink.emit(event)
    await sink.close(timeout=1)
    assert rows.calls == [event] * 3 and slept == [0.5, 1.0]
    assert RowJournal(tmp_path).pending() == []  # written: out of the journal


async def test_an_unknown_case_is_not_retried(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.ERROR, logger="recording.attached")
    rows = Rows([NotFound("case", "x")])
    sink = AttachedRecordings(rows, journal=RowJournal(tmp_path))
    event = completed()
    sink.emit(event)
    await sink.close(timeout=1)
    assert rows.calls == [event]
    assert event.location in caplog.text  # the operator learns where the audio is
    assert RowJournal(tmp_path).pending() == []  # never to be written: not kept


async def test_giving_up_after_the_retry_window_says_where_the_file_is(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.ERROR, logger="recording.attached")

    async def sleep(seconds: float) -> None:
        await asyncio.sleep(0.02)

    rows = Rows([StorageUnavailable("down")] * 100)
    sink = AttachedRecordings(
        rows, journal=RowJournal(tmp_path), retry_for=0.05, first_delay=0.02, sleep=sleep
    )
    sink.emit(completed())
    await sink.close(timeout=2)
    assert 1 < len(rows.calls) < 100
    assert "row not written" in caplog.text
    assert len(RowJournal(tmp_path).pending()) == 1  # kept for the next try


async def test_only_recordings_are_taken(tmp_path: Path) -> None:
    rows = Rows([])
    sink = AttachedRecordings(rows, journal=RowJournal(tmp_path))
    sink.emit(CaseEnded(uuid.uuid4(), Outcome.ANSWERED, AT))
    await sink.close(timeout=1)
    assert rows.calls == []


class Stuck:
    """A database that never answers: the controller is killed while the row is tried."""

    def __init__(self) -> None:
        self.calls = 0

    async def attach(self, event: RecordingCompleted) -> bool:
        self.calls += 1
        await asyncio.Event().wait()
        return True


async def test_i17_6_the_row_is_journaled_before_it_is_tried(tmp_path: Path) -> None:
    rows = Stuck()
    sink = AttachedRecordings(rows, journal=RowJournal(tmp_path))
    event = completed()
    sink.emit(event)
    for _ in range(100):
        if rows.calls:
            break
        await asyncio.sleep(0.01)
    assert rows.calls == 1
    assert RowJournal(tmp_path).pending() == [event]  # on disk before the first try


async def test_i17_6_a_row_left_at_shutdown_is_written_at_the_next_start(tmp_path: Path) -> None:
    first = AttachedRecordings(Stuck(), journal=RowJournal(tmp_path))
    event = completed()
    first.emit(event)
    await asyncio.sleep(0.05)
    await first.close(timeout=0.1)  # (or kill -9: the journal entry was already written)

    rows = Rows([])
    again = AttachedRecordings(rows, journal=RowJournal(tmp_path))
    assert await again.replay() == 1
    assert await again.replay() == 0  # already being written: not started twice
    await again.close(timeout=1)
    assert rows.calls == [event]
    assert RowJournal(tmp_path).pending() == []


async def test_i17_6_an_unreadable_journal_entry_is_left_for_an_operator(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / f"{uuid.uuid4()}.recording.json").write_bytes(b"{not json")
    rows = Rows([])
    sink = AttachedRecordings(rows, journal=RowJournal(tmp_path))
    assert await sink.replay() == 0
    assert "unreadable" in caplog.text and rows.calls == []


async def test_durable_once_the_row_is_journaled_while_the_database_is_still_down(
    tmp_path: Path,
) -> None:
    """What a recording's flow waits for before it removes Asterisk's file: the row in the
    fsync'd journal (the table may come much later)."""
    release = asyncio.Event()

    async def sleep(seconds: float) -> None:
        await release.wait()

    rows = Rows([StorageUnavailable("down")])
    sink = AttachedRecordings(rows, journal=RowJournal(tmp_path), sleep=sleep)
    event = completed()
    sink.emit(event)
    assert await asyncio.wait_for(sink.durable(event.case_id), 5)
    assert [audio.case_id for audio in RowJournal(tmp_path).pending()] == [event.case_id]
    assert await sink.durable(uuid.uuid4())  # nothing emitted for that case
    release.set()
    await sink.close(timeout=1)


async def test_not_durable_when_neither_the_journal_nor_the_table_took_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "journal").write_text("a file where the directory should be")
    rows = Rows([NotFound("case", "x")])  # and the table will not take it either ...
    rows.attach = _refuse  # type: ignore[method-assign]
    sink = AttachedRecordings(rows, journal=RowJournal(tmp_path / "journal"), retry_for=0.0)
    event = completed()
    sink.emit(event)
    assert not await asyncio.wait_for(sink.durable(event.case_id), 5)
    await sink.close(timeout=1)


async def _refuse(event: RecordingCompleted) -> bool:
    raise StorageUnavailable("down")
