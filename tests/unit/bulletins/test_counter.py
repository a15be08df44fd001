from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from ivr.bulletins.counter import CallCounter, Key

N = uuid.UUID(int=1)
B = uuid.UUID(int=2)
T = datetime(2026, 11, 22, 12, 34, 56, tzinfo=UTC)
HOUR = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


class Sink:
    """The database's side: counts, and the ids of the batches stored."""

    def __init__(self) -> None:
        self.rows: dict[Key, int] = {}
        self.batches: set[uuid.UUID] = set()
        self.down = False
        self.lose_answer = False  # stores, then fails as a dropped connection would

    async def add(self, counts: Mapping[Key, int], batch: uuid.UUID) -> bool:
        if self.down:
            raise OSError("connection refused")
        if batch in self.batches:
            return False
        self.batches.add(batch)
        for k, v in counts.items():
            self.rows[k] = self.rows.get(k, 0) + v
        if self.lose_answer:
            raise OSError("connection reset")
        return True

    async def prune_batches(self) -> int:
        return 0


def journal_files(path: Path) -> list[Path]:
    return sorted(path.glob("*.log"))


async def test_counts_per_number_bulletin_and_hour(tmp_path: Path) -> None:
    sink = Sink()
    counter = CallCounter(sink, tmp_path / "journal", lambda: T)
    counter.count(N, [B])
    counter.count(N, [B, None])
    assert counter.pending == 3
    assert await counter.flush()
    assert sink.rows == {(N, B, HOUR): 2, (N, None, HOUR): 1}
    assert counter.pending == 0 and counter.flushed == 3
    assert journal_files(tmp_path / "journal") == []  # stored: its segment deleted


async def test_every_count_is_on_disk_before_the_call_goes_on(tmp_path: Path) -> None:
    counter = CallCounter(Sink(), tmp_path / "journal", lambda: T)
    counter.count(N, [B])
    counter.count(N, [None])
    [segment] = journal_files(tmp_path / "journal")
    assert (
        segment.read_text() == f"{N} {B} {int(HOUR.timestamp())}\n{N} - {int(HOUR.timestamp())}\n"
    )
    assert oct(segment.stat().st_mode & 0o777) == "0o600"


async def test_counts_survive_an_outage_and_a_restart(tmp_path: Path) -> None:
    sink = Sink()
    journal = tmp_path / "journal"
    sink.down = True
    counter = CallCounter(sink, journal, lambda: T)
    counter.count(N, [B])
    assert not await counter.flush()
    counter.count(N, [B])
    await counter.close()  # still down: left in the journal
    assert len(journal_files(journal)) == 2 and sink.rows == {}

    sink.down = False
    again = CallCounter(sink, journal, lambda: T, flush_interval=0.01)
    again.replay()
    assert again.pending == 2
    assert await again.flush()
    assert sink.rows == {(N, B, HOUR): 2}
    assert journal_files(journal) == []


def test_a_killed_controller_loses_no_count_and_the_next_one_counts_each_once(
    tmp_path: Path,
) -> None:
    """A real process counts, then is killed with SIGKILL before any flush: its journal has
    every count, and a replay whose first store's answer was lost stores them once."""
    journal = tmp_path / "journal"
    code = (
        "import os, uuid, datetime as d\n"
        "from ivr.bulletins.counter import CallCounter\n"
        "class S:\n"
        "    async def add(self, c, b): raise OSError\n"
        "    async def prune_batches(self): return 0\n"
        f"c = CallCounter(S(), __import__('pathlib').Path({str(journal)!r}),"
        " lambda: d.datetime(2026, 11, 22, 12, 34, tzinfo=d.UTC))\n"
        f"for _ in range(250): c.count(uuid.UUID(int=1), [uuid.UUID(int=2)])\n"
        "os.kill(os.getpid(), 9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False)
    assert proc.returncode == -9

    async def replay_twice() -> Sink:
        sink = Sink()
        sink.lose_answer = True
        first = CallCounter(sink, journal, lambda: T)
        first.replay()
        assert first.pending == 250
        assert not await first.flush()  # stored, but it could not know
        sink.lose_answer = False
        assert await first.flush()  # the same batch again: skipped
        second = CallCounter(sink, journal, lambda: T)
        second.replay()
        assert second.pending == 0
        return sink

    import asyncio

    sink = asyncio.run(replay_twice())
    assert sink.rows == {(N, B, HOUR): 250}
    assert journal_files(journal) == []


async def test_a_segment_a_running_controller_writes_is_left_to_it(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    sink = Sink()
    live = CallCounter(sink, journal, lambda: T)
    live.count(N, [B])
    other = CallCounter(sink, journal, lambda: T)
    other.replay()
    assert other.pending == 0  # locked by its writer
    assert await live.flush() and sink.rows == {(N, B, HOUR): 1}


async def test_a_torn_line_and_foreign_files_are_skipped(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    journal.mkdir()
    seg = journal / f"{uuid.uuid4()}.log"
    seg.write_text(f"{N} {B} {int(HOUR.timestamp())}\n{N} {B} 17")
    (journal / "notes.log").write_text("not a segment\n")
    sink = Sink()
    counter = CallCounter(sink, journal, lambda: T)
    counter.replay()
    assert counter.pending == 1
    assert await counter.flush()
    assert sink.rows == {(N, B, HOUR): 1}
    assert (journal / "notes.log").exists() and not seg.exists()


async def test_the_json_spool_of_earlier_versions_is_replayed_once(tmp_path: Path) -> None:
    spool = tmp_path / "journal.json"
    spool.write_text(json.dumps([[str(N), str(B), HOUR.isoformat(), 3]]))
    sink = Sink()
    counter = CallCounter(sink, tmp_path / "journal", lambda: T)
    counter.replay()
    assert await counter.flush()
    assert sink.rows == {(N, B, HOUR): 3} and not spool.exists()


async def test_an_unwritable_journal_counts_in_memory(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    sink = Sink()
    counter = CallCounter(sink, blocked / "journal", lambda: T)  # under a file: no dir
    counter.count(N, [B])
    counter.count(N, [B])
    assert await counter.flush()
    assert sink.rows == {(N, B, HOUR): 2}
    assert blocked.read_text() == ""
