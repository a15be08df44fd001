"""Anonymous call counters of the bulletin service: calls per number, bulletin and hour.

Counting is in memory and flushed in batches off the call path. If Postgres is unreachable
the counts are kept (and merged) until it returns; on shutdown they go to a small spool file
that the next start replays. No caller data is ever part of a counter.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Protocol

from ivr.audio import write_atomic
from ivr.clock import Clock

log = logging.getLogger(__name__)

Key = tuple[uuid.UUID, uuid.UUID | None, datetime]


class CounterSink(Protocol):
    async def add(self, counts: Mapping[Key, int]) -> None: ...


class CallCounter:
    def __init__(
        self, sink: CounterSink, spool: Path, clock: Clock, *, flush_interval: float = 1.0
    ) -> None:
        self._sink = sink
        self._spool = spool
        self._clock = clock
        self._interval = flush_interval
        self._pending: dict[Key, int] = {}
        self.flushed = 0
        self._spool_loaded = False

    def count(self, number_id: uuid.UUID, bulletin_ids: Iterable[uuid.UUID | None]) -> None:
        hour = self._clock().replace(minute=0, second=0, microsecond=0)
        for bid in bulletin_ids:
            key = (number_id, bid, hour)
            self._pending[key] = self._pending.get(key, 0) + 1

    @property
    def pending(self) -> int:
        return sum(self._pending.values())

    async def flush(self) -> bool:
        if not self._pending:
            return True
        batch, self._pending = self._pending, {}
        try:
            await self._sink.add(batch)
        except Exception as exc:
            for key, n in batch.items():  # keep them for the next try
                self._pending[key] = self._pending.get(key, 0) + n
            log.warning(
                "counter flush failed (%s); %d call(s) kept", type(exc).__name__, self.pending
            )
            return False
        self.flushed += sum(batch.values())
        if self._spool_loaded:
            self._spool.unlink(missing_ok=True)  # its counts are in the database now
            self._spool_loaded = False
        return True

    async def run(self) -> None:
        self._load_spool()
        while True:
            await asyncio.sleep(self._interval)
            await self.flush()

    async def close(self) -> None:
        if not await self.flush():
            self._save_spool()

    def _save_spool(self) -> None:
        rows = [
            [str(n), str(b) if b else None, h.isoformat(), c]
            for (n, b, h), c in self._pending.items()
        ]
        write_atomic(self._spool, json.dumps(rows).encode(), mode=0o600)
        log.warning("%d uncounted call(s) spooled to %s", self.pending, self._spool)

    def _load_spool(self) -> None:
        try:
            rows = json.loads(self._spool.read_text())
        except FileNotFoundError:
            return
        except ValueError:
            log.error("counter spool %s is unreadable; left in place", self._spool)
            return
        for n, b, h, c in rows:
            key = (uuid.UUID(n), uuid.UUID(b) if b else None, datetime.fromisoformat(h))
            self._pending[key] = self._pending.get(key, 0) + int(c)
        self._spool_loaded = True
        log.info("replaying %d spooled call count(s)", self.pending)
