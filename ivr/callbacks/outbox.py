"""The dialers' outcome spools: writes about a callback request (an attempt's answer and end,
its retry, finish or release) or a call-out member (:mod:`ivr.callout.outbox`) that Postgres
could not take, kept durably until it can. :class:`Outbox` is the spool for any kind of
write (a :class:`SpooledWrite`); :class:`OutcomeSpool` is the callback dialer's.
:class:`TakeoverGate` says when a dialer may take over another controller's expired lease.

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
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar

from storage.errors import SpoolError, StorageError, StorageUnavailable
from storage.spool import Spool

__all__ = ["Outbox", "OutcomeSpool", "PendingWrite", "SpooledWrite", "TakeoverGate", "WriteOp"]

log = logging.getLogger(__name__)

WriteOp = Literal["answered", "end_attempt", "retry", "finish", "release"]
MAX_BYTES = 16 * 1024 * 1024  # some 50 000 outcomes: far more than one outage produces


class SpooledWrite(Protocol):
    """A write an :class:`Outbox` keeps: about one row (``key``), one JSON line."""

    @property
    def key(self) -> uuid.UUID: ...

    @property
    def op(self) -> str: ...

    def encode(self) -> bytes: ...


W = TypeVar("W", bound=SpooledWrite)


class TakeoverGate:
    """Whether this controller may take over another one's expired lease: only once
    Postgres has answered it for ``grace`` seconds without a failure (after an outage all
    controllers saw, the lease holder first writes what it spooled, within a poll)."""

    def __init__(self, grace: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._grace = grace
        self._clock = clock
        self._since: float | None = None  # Postgres answering us since

    def answered(self) -> None:
        if self._since is None:
            self._since = self._clock()

    def failed(self) -> None:
        self._since = None

    def open(self) -> bool:
        return self._since is not None and self._clock() - self._since >= self._grace


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def encode_write(write: Any) -> bytes:
    """A spooled write (a dataclass) as one JSON line: its set fields, ids and times as text."""
    fields = {k: _plain(v) for k, v in asdict(write).items() if v is not None}
    return json.dumps(fields, separators=(",", ":")).encode() + b"\n"


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

    @property
    def key(self) -> uuid.UUID:
        return self.request_id

    def encode(self) -> bytes:
        return encode_write(self)

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


class Outbox(Generic[W]):
    """Async face of a :class:`storage.spool.Spool` for a dialer (one writer at a time):
    writes ``W`` (``decode`` reads one back), logged with ``tag`` and the row's key."""

    def __init__(
        self,
        directory: Path,
        decode: Callable[[bytes], W],
        *,
        tag: str,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self._spool = Spool(directory, max_bytes)
        self._decode = decode
        self._tag = tag
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

    def holds(self, key: uuid.UUID) -> bool:
        """Whether a write about this row is still waiting for Postgres."""
        return key in self._pending

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
                "%s outcome spool %s: %d row(s) with writes from an earlier run;"
                " replayed before anything is claimed",
                self._tag,
                self.directory,
                len(self._pending),
            )

    async def close(self) -> None:
        async with self._lock:
            if self._open:
                await asyncio.to_thread(self._spool.close)
                self._open = False

    async def add(self, write: W) -> None:
        """Keep ``write`` durably (fsync'd) after those already kept. Raises SpoolError when
        it could not be kept (disk full or failing)."""
        line = write.encode()
        async with self._lock:
            if await asyncio.to_thread(self._spool.append, [line]) != 1:
                raise SpoolError(f"{self._tag} outcome spool {self.directory} is full")
            self._pending.add(write.key)
        log.warning(
            "[%s %s] %s kept in the outcome spool until Postgres is back",
            self._tag,
            write.key,
            write.op,
        )

    async def replay(self, write: Callable[[W], Awaitable[object]]) -> bool:
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
            log.info("%s outcome spool %s: everything written", self._tag, self.directory)
            return True

    async def _replay_line(self, line: bytes, write: Callable[[W], Awaitable[object]]) -> bool:
        try:
            pending = self._decode(line)
        except (ValueError, KeyError, TypeError) as exc:
            log.error("%s outcome spool: unreadable line kept aside (%s)", self._tag, exc)
            await asyncio.to_thread(self._spool.reject, [line])
            return True
        try:
            await write(pending)
        except StorageUnavailable as exc:
            log.info(
                "[%s %s] %s still waits for Postgres (%s)", self._tag, pending.key, pending.op, exc
            )
            return False
        except (StorageError, ValueError) as exc:  # refused (or malformed): kept aside
            log.error(
                "[%s %s] spooled %s refused (%s); kept in rejected.jsonl",
                self._tag,
                pending.key,
                pending.op,
                exc,
            )
            await asyncio.to_thread(self._spool.reject, [line])
            return True
        log.info("[%s %s] spooled %s written", self._tag, pending.key, pending.op)
        return True

    def _lines(self, segment: Path) -> list[bytes]:
        return list(self._spool.read(segment))

    def _ids_held(self) -> set[uuid.UUID]:
        ids: set[uuid.UUID] = set()
        for segment in self._spool.segments():
            for line in self._spool.read(segment):
                try:
                    ids.add(self._decode(line).key)
                except (ValueError, KeyError, TypeError):
                    ids.add(uuid.UUID(int=0))  # something to replay (and reject) all the same
        return ids


class OutcomeSpool(Outbox[PendingWrite]):
    """The callback dialer's spool (``<state_dir>/spool/callbacks/``)."""

    def __init__(self, directory: Path, max_bytes: int = MAX_BYTES) -> None:
        super().__init__(directory, PendingWrite.decode, tag="cb", max_bytes=max_bytes)
