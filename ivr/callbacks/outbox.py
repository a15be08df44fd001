"""The callback dialer's outcome spool: writes about a request (an attempt's answer and end,
its retry, finish or release) that Postgres could not take, kept durably until it can.

::

    dialer write ── Postgres unavailable (or writes already pending) ──> OutcomeSpool.add
                                                    (storage.spool: fsync'd JSON lines)
    every poll, before anything is claimed:  OutcomeSpool.replay(write) ── in order ──> store

A line holds only ids, the outcome and times (request id, controller id, attempt number,
result/outcome, timestamps, the agent's user id): never the customer's number. Every write is
idempotent (the store checks the lease's controller; attempt stamps set the same values), so a
segment replayed twice after a crash changes nothing. A line the database refuses is kept in
``rejected.jsonl`` for an operator. Layout and guarantees: :mod:`storage.spool`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from storage.errors import SpoolError, StorageError, StorageUnavailable
from storage.spool import Spool

__all__ = ["OutcomeSpool", "PendingWrite", "WriteOp"]

log = logging.getLogger(__name__)

WriteOp = Literal["answered", "end_attempt", "retry", "finish", "release"]
MAX_BYTES = 16 * 1024 * 1024  # some 50 000 outcomes: far more than one outage produces


@dataclass(frozen=True)
class PendingWrite:
    """One store write of the dialer, as it is kept in the spool."""

    op: WriteOp
    request_id: uuid.UUID
    controller: str  # whose lease the write is made under (the id at the time)
    at: datetime | None = None
    attempt_no: int | None = None
    result: str | None = None  # CallbackResult value (end_attempt)
    outcome: str | None = None  # CallbackOutcome value (finish)
    next_at: datetime | None = None  # retry
    agent_id: uuid.UUID | None = None
    counts_attempt: bool = True
    served: tuple[datetime, datetime] | None = None

    def encode(self) -> bytes:
        def plain(value: Any) -> Any:
            if isinstance(value, uuid.UUID):
                return str(value)
            if isinstance(value, datetime):
                return value.isoformat()
            if isinstance(value, tuple):
                return [plain(v) for v in value]
            return value

        fields = {k: plain(v) for k, v in asdict(self).items() if v is not None}
        return json.dumps(fields, separators=(",", ":")).encode() + b"\n"

    @classmethod
    def decode(cls, line: bytes) -> PendingWrite:
        """Raises ValueError (or KeyError/TypeError) for a line that is not one."""
        d = json.loads(line)
        when = datetime.fromisoformat
        served = d.get("served")
        return cls(
            op=d["op"],
            request_id=uuid.UUID(d["request_id"]),
            controller=str(d["controller"]),
            at=when(d["at"]) if "at" in d else None,
            attempt_no=int(d["attempt_no"]) if "attempt_no" in d else None,
            result=d.get("result"),
            outcome=d.get("outcome"),
            next_at=when(d["next_at"]) if "next_at" in d else None,
            agent_id=uuid.UUID(d["agent_id"]) if "agent_id" in d else None,
            counts_attempt=bool(d.get("counts_attempt", True)),
            served=(when(served[0]), when(served[1])) if served else None,
        )


class OutcomeSpool:
    """Async face of a :class:`storage.spool.Spool` for the dialer (one writer at a time)."""

    def __init__(self, directory: Path, max_bytes: int = MAX_BYTES) -> None:
        self._spool = Spool(directory, max_bytes)
        self._lock = asyncio.Lock()
        self._pending: set[uuid.UUID] = set()
        self._done_in_head = 0  # lines of the oldest segment already written
        self._open = False

    @property
    def directory(self) -> Path:
        return self._spool.directory

    @property
    def empty(self) -> bool:
        return not self._pending

    def holds(self, request_id: uuid.UUID) -> bool:
        """Whether a write about this request is still waiting for Postgres."""
        return request_id in self._pending

    def open(self) -> None:
        """Take the directory and note which requests have writes from an earlier run.
        Synchronous (a few small files, once at start): the first poll follows at once."""
        if self._open:
            return
        self._spool.open()
        self._open = True
        self._pending = self._ids_held()
        if self._pending:
            log.warning(
                "callback outcome spool %s: %d request(s) with writes from an earlier run;"
                " replayed before anything is claimed",
                self.directory,
                len(self._pending),
            )

    async def close(self) -> None:
        async with self._lock:
            if self._open:
                await asyncio.to_thread(self._spool.close)
                self._open = False

    async def add(self, write: PendingWrite) -> None:
        """Keep ``write`` durably (fsync'd) after those already kept. Raises SpoolError when
        it could not be kept (disk full or failing)."""
        line = write.encode()
        async with self._lock:
            if await asyncio.to_thread(self._spool.append, [line]) != 1:
                raise SpoolError(f"callback outcome spool {self.directory} is full")
            self._pending.add(write.request_id)
        log.warning(
            "[cb %s] %s kept in the outcome spool until Postgres is back",
            write.request_id,
            write.op,
        )

    async def replay(self, write: Callable[[PendingWrite], Awaitable[object]]) -> bool:
        """Write what is kept, oldest first, through ``write``; stops at the first
        StorageUnavailable. True when nothing is left."""
        async with self._lock:
            if not self._pending:
                return True
            await asyncio.to_thread(self._spool.rotate)
            for segment in self._spool.closed_segments():
                lines = await asyncio.to_thread(self._lines, segment)
                while self._done_in_head < len(lines):
                    line = lines[self._done_in_head]
                    if not await self._replay_line(line, write):
                        return False
                    self._done_in_head += 1
                await asyncio.to_thread(self._spool.remove, segment)
                self._done_in_head = 0
            self._pending.clear()
            log.info("callback outcome spool %s: everything written", self.directory)
            return True

    async def _replay_line(
        self, line: bytes, write: Callable[[PendingWrite], Awaitable[object]]
    ) -> bool:
        try:
            pending = PendingWrite.decode(line)
        except (ValueError, KeyError, TypeError) as exc:
            log.error("callback outcome spool: unreadable line kept aside (%s)", exc)
            await asyncio.to_thread(self._spool.reject, [line])
            return True
        try:
            await write(pending)
        except StorageUnavailable as exc:
            log.info(
                "[cb %s] %s still waits for Postgres (%s)", pending.request_id, pending.op, exc
            )
            return False
        except (StorageError, ValueError) as exc:  # refused (or malformed): kept aside
            log.error(
                "[cb %s] spooled %s refused (%s); kept in rejected.jsonl",
                pending.request_id,
                pending.op,
                exc,
            )
            await asyncio.to_thread(self._spool.reject, [line])
            return True
        log.info("[cb %s] spooled %s written", pending.request_id, pending.op)
        return True

    def _lines(self, segment: Path) -> list[bytes]:
        return list(self._spool.read(segment))

    def _ids_held(self) -> set[uuid.UUID]:
        ids: set[uuid.UUID] = set()
        for segment in self._spool.segments():
            for line in self._spool.read(segment):
                try:
                    ids.add(PendingWrite.decode(line).request_id)
                except (ValueError, KeyError, TypeError):
                    ids.add(uuid.UUID(int=0))  # something to replay (and reject) all the same
        return ids
