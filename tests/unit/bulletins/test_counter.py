from __future__ import annotations

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
    def __init__(self) -> None:
        self.rows: dict[Key, int] = {}
        self.down = False

    async def add(self, counts: Mapping[Key, int]) -> None:
        if self.down:
            raise OSError("connection refused")
        for k, v in counts.items():
            self.rows[k] = self.rows.get(k, 0) + v


async def test_counts_per_number_bulletin_and_hour(tmp_path: Path) -> None:
    sink = Sink()
    counter = CallCounter(sink, tmp_path / "spool.json", lambda: T)
    counter.count(N, [B])
    counter.count(N, [B, None])
    assert await counter.flush()
    assert sink.rows == {(N, B, HOUR): 2, (N, None, HOUR): 1}


async def test_counts_survive_an_outage_and_a_restart(tmp_path: Path) -> None:
    sink = Sink()
    spool = tmp_path / "spool.json"
    sink.down = True
    counter = CallCounter(sink, spool, lambda: T)
    counter.count(N, [B])
    assert not await counter.flush()
    counter.count(N, [B])
    await counter.close()  # still down: spooled
    assert spool.is_file() and sink.rows == {}

    sink.down = False
    again = CallCounter(sink, spool, lambda: T, flush_interval=0.01)
    again._load_spool()
    assert again.pending == 2
    assert await again.flush()
    assert sink.rows == {(N, B, HOUR): 2}
    assert not spool.exists()
