"""Rows of callback recordings go straight to the table: retried while the database is down,
given up (with the file left for an operator) when the case does not exist."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from recording.attached import AttachedRecordings
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


async def test_a_row_is_retried_while_the_database_is_down() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    rows = Rows([StorageUnavailable("down"), StorageUnavailable("down")])
    sink = AttachedRecordings(rows, first_delay=0.5, sleep=sleep)
    event = completed()
    sink.emit(event)
    await sink.close(timeout=1)
    assert rows.calls == [event] * 3 and slept == [0.5, 1.0]


async def test_an_unknown_case_is_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="recording.attached")
    rows = Rows([NotFound("case", "x")])
    sink = AttachedRecordings(rows)
    event = completed()
    sink.emit(event)
    await sink.close(timeout=1)
    assert rows.calls == [event]
    assert event.location in caplog.text  # the operator learns where the audio is


async def test_giving_up_after_the_retry_window_says_where_the_file_is(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="recording.attached")

    async def sleep(seconds: float) -> None:
        await asyncio.sleep(0.02)

    rows = Rows([StorageUnavailable("down")] * 100)
    sink = AttachedRecordings(rows, retry_for=0.05, first_delay=0.02, sleep=sleep)
    sink.emit(completed())
    await sink.close(timeout=2)
    assert 1 < len(rows.calls) < 100
    assert "row not written" in caplog.text


async def test_only_recordings_are_taken() -> None:
    rows = Rows([])
    sink = AttachedRecordings(rows)
    sink.emit(CaseEnded(uuid.uuid4(), Outcome.ANSWERED, AT))
    await sink.close(timeout=1)
    assert rows.calls == []
