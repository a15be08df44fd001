"""The case recorder: takes case events from the call path and writes cases off it.

::

    flow ── emit(event) ──> fold into the case's state (storage.timing), mark it dirty
                               │  (bounded: at most ``max_pending`` dirty cases)
                               v
                      writer task: batches of dirty snapshots
                         │ database up, no backlog ──> CaseWriter.write (one transaction)
                         │ database down / backlog ──> Spool.append (fsync'd JSON lines)
                         └ retry with backoff ──> replay the spool in order, then write direct

``emit`` is synchronous, never blocks and never raises. Every write is an idempotent upsert
keyed by case id, so a snapshot written twice (a replay after a crash, a write that timed
out but had committed) changes nothing: no case is lost and none is duplicated. What cannot
be kept (the pending buffer or the spool is full) is logged at CRITICAL naming the case and
counted in :class:`RecorderStats`; rows the database refuses are noted in ``rejected.jsonl``
(case id, constraint, SQLSTATE: never the row).

Several snapshots of one case coalesce while pending: a burst costs one row write per case.

A flow that must not tell the caller something before it is kept (a confirmed callback
request) awaits :meth:`CaseRecorder.durable`: the case's snapshot is then in the database or
the fsync'd spool. If the batch it rides in is not written within ``durable_within`` seconds
(a slow or hanging database), the snapshot is appended to the spool at once; the replay of
that line later is one more idempotent upsert.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TypeVar

from storage.codec import BadLine, decode_state, encode_state
from storage.errors import SpoolError, StorageError
from storage.events import CaseEnded, CaseEvent, Channel, Outcome
from storage.spool import Spool
from storage.timing import CaseState, EventIgnored, apply

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Rejected:
    """A snapshot the database refused (bad data, not an outage), with its reason.

    ``reason`` names the constraint and never quotes the row (see
    :func:`storage.repositories._uow.translate`); only the fields below go to
    ``rejected.jsonl``, never the snapshot itself (it holds the caller's personal data)."""

    state: CaseState
    reason: str
    error: str = "Refused"
    constraint: str | None = None
    sqlstate: str | None = None

    @classmethod
    def because(cls, state: CaseState, error: StorageError) -> Rejected:
        return cls(
            state,
            str(error),
            type(error).__name__,
            getattr(error, "constraint", None),
            getattr(error, "sqlstate", None),
        )

    def line(self) -> bytes:
        """The ``rejected.jsonl`` line: enough to find the problem, no personal data."""
        return _note(
            case_id=str(self.state.case_id),
            tenant_id=str(self.state.tenant_id),
            error=self.error,
            constraint=self.constraint,
            sqlstate=self.sqlstate,
            reason=self.reason,
        )


def _note(**fields: str | int | None) -> bytes:
    fields["noted_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return json.dumps(fields, ensure_ascii=False, sort_keys=True).encode() + b"\n"


def _unreadable(segment: Path, line: bytes, exc: BadLine) -> bytes:
    """The ``rejected.jsonl`` line for a spool line that cannot be decoded (not the line)."""
    case_id: str | None = None
    with contextlib.suppress(ValueError):
        raw = json.loads(line)
        if isinstance(raw, dict) and isinstance(raw.get("case_id"), str):
            case_id = str(uuid.UUID(raw["case_id"]))
    return _note(case_id=case_id, error=type(exc).__name__, segment=segment.name, bytes=len(line))


class CaseWriter(Protocol):
    async def write(self, states: Sequence[CaseState]) -> list[Rejected]:
        """Write the snapshots idempotently; return those the database refused.

        Raise (anything) when the database could not be used: the recorder then spools
        the whole batch and tries again later.
        """
        ...


@dataclass(frozen=True, slots=True)
class RecorderStats:
    events: int
    ignored_events: int
    written: int  # snapshots written straight to the database
    spooled: int  # snapshots appended to the spool
    replayed: int  # snapshots written from the spool
    rejected: int  # refused by the database (kept in rejected.jsonl)
    dropped_pending_full: int  # never written anywhere: pending buffer full
    dropped_spool_full: int  # never written anywhere: spool full or failing
    db_failures: int
    open_cases: int
    pending: int
    spool_bytes: int
    database_up: bool

    @property
    def dropped(self) -> int:
        return self.dropped_pending_full + self.dropped_spool_full


class CaseRecorder:
    def __init__(
        self,
        writer: CaseWriter,
        spool: Spool,
        *,
        batch_size: int = 500,
        max_pending: int = 50_000,
        max_open: int = 100_000,
        remember_ended: int = 20_000,
        linger: float = 0.02,
        retry_initial: float = 0.25,
        retry_max: float = 5.0,
        write_timeout: float = 15.0,
        durable_within: float = 2.0,
    ) -> None:
        self._writer = writer
        self._spool = spool
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._max_open = max_open
        self._remember_ended = remember_ended
        self._linger = linger
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._write_timeout = write_timeout
        self._durable_within = durable_within
        # Spool calls run in a worker thread, one at a time (the spool is not thread-safe).
        self._spool_lock = asyncio.Lock()
        # Who awaits durability of a case: of its pending snapshot, or of the in-flight batch.
        self._waiters: dict[uuid.UUID, list[asyncio.Future[bool]]] = {}
        self._inflight_waiters: dict[uuid.UUID, list[asyncio.Future[bool]]] = {}

        self._open: dict[uuid.UUID, CaseState] = {}
        self._ended: OrderedDict[uuid.UUID, CaseState] = OrderedDict()
        self._pending: dict[uuid.UUID, CaseState] = {}
        self._inflight: list[CaseState] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._backlog = False  # the spool holds records not yet in the database
        self._db_up = True
        self._retry_delay = retry_initial
        self._retry_at = 0.0
        self._count = dict.fromkeys(
            (
                "events",
                "ignored_events",
                "written",
                "spooled",
                "replayed",
                "rejected",
                "dropped_pending_full",
                "dropped_spool_full",
                "db_failures",
            ),
            0,
        )

    # ----- the call path -----------------------------------------------------------------------
    def emit(self, event: CaseEvent) -> None:
        """Record a case event. Synchronous, never blocks, never raises."""
        try:
            self._count["events"] += 1
            cid = event.case_id
            state = self._open.get(cid)
            if state is None:
                state = self._ended.get(cid)
            new = apply(state, event)
            if new is state:
                return
            if new.ended:
                self._open.pop(cid, None)
                self._ended[cid] = new
                self._ended.move_to_end(cid)
                while len(self._ended) > self._remember_ended:
                    self._ended.popitem(last=False)
                if state is None or not state.ended:
                    log.debug("case %s: ended (%s)", cid, new.outcome)
            else:
                if state is None:
                    log.debug("case %s: opened (%s)", cid, new.channel)
                    self._evict_if_full()
                self._open[cid] = new
            self._mark(new)
        except EventIgnored as exc:
            self._count["ignored_events"] += 1
            log.warning("%s: ignored", exc)
        except Exception:
            self._count["ignored_events"] += 1
            log.exception(
                "case %s: recorder failed on %s", getattr(event, "case_id", "?"), type(event)
            )

    def adopt(self, state: CaseState) -> None:
        """Go on recording an open case another controller started (its call was adopted,
        :mod:`storage.repositories.case_takeover`): later events apply to ``state``. A case
        this recorder knows already keeps its own state."""
        cid = state.case_id
        if state.ended or cid in self._open or cid in self._ended:
            return
        self._evict_if_full()
        self._open[cid] = state
        self._mark(state)  # written again: with this controller as its holder
        log.info("case %s: adopted (%d queue stay(s) so far)", cid, len(state.queue_stays))

    def end_open(self, outcome: Outcome, at: datetime, *, channel: Channel) -> list[uuid.UUID]:
        """End every open case of ``channel`` that started by ``at`` with ``outcome`` at
        ``at`` (this controller's Asterisk went away: its calls with it). Later events of
        those cases are ignored, as after any end. Returns the cases ended."""
        lost = [
            cid
            for cid, state in self._open.items()
            if state.channel is channel and state.started_at <= at
        ]
        for cid in lost:
            self.emit(CaseEnded(cid, outcome, max(at, self._open[cid].last_at)))
        return lost

    async def durable(self, case_id: uuid.UUID) -> bool:
        """Wait until everything emitted for the case so far is in the database or the
        fsync'd spool. False (logged) when it could be kept in neither."""
        if case_id in self._pending:
            waiting = self._waiters
        elif case_id in self._inflight_waiters or any(s.case_id == case_id for s in self._inflight):
            waiting = self._inflight_waiters
        else:
            state = self._open.get(case_id) or self._ended.get(case_id)
            return state is not None  # written already (unknown: never emitted or evicted)
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        waiting.setdefault(case_id, []).append(done)
        self._wake.set()
        try:
            return await asyncio.wait_for(asyncio.shield(done), self._durable_within)
        except TimeoutError:
            return await self._spool_now(case_id)

    async def _spool_now(self, case_id: uuid.UUID) -> bool:
        """The batch is late (the database is slow): put the case's snapshot in the spool."""
        state = self._open.get(case_id) or self._ended.get(case_id)
        if state is None:
            log.critical("case %s: forgotten before it could be kept", case_id)
            return False
        log.warning(
            "case %s: not written within %.1f s: spooling its snapshot now",
            case_id,
            self._durable_within,
        )
        try:
            n = await self._on_spool(self._spool.append, [encode_state(state)])
        except (SpoolError, TypeError, ValueError) as exc:
            log.critical("case %s: cannot be spooled either (%s)", case_id, exc)
            return False
        if n:
            self._backlog = True
            self._count["spooled"] += 1
            return True
        log.critical("case %s: the spool is full: its snapshot is not kept", case_id)
        return False

    def _settle(self, states: Sequence[CaseState], kept: bool) -> None:
        """Tell whoever awaits these cases' durability whether they were kept."""
        for s in states:
            for done in self._inflight_waiters.pop(s.case_id, ()):
                if not done.done():
                    done.set_result(kept)

    async def _on_spool(self, fn: Callable[..., T], *args: object) -> T:
        async with self._spool_lock:
            return await asyncio.to_thread(fn, *args)

    def _evict_if_full(self) -> None:
        while len(self._open) >= self._max_open:
            cid, _ = next(iter(self._open.items()))
            del self._open[cid]
            log.warning(
                "case %s: forgotten by the recorder (%d open cases): later events for it are "
                "ignored; its last snapshot is kept",
                cid,
                self._max_open,
            )

    def _mark(self, state: CaseState) -> None:
        cid = state.case_id
        if cid not in self._pending and len(self._pending) >= self._max_pending:
            self._count["dropped_pending_full"] += 1
            log.critical(
                "case %s: recorder backlog full (%d cases waiting): this update is DROPPED",
                cid,
                len(self._pending),
            )
            return
        self._pending[cid] = state
        self._idle.clear()
        if not self._wake.is_set() and (
            len(self._pending) == 1 or len(self._pending) >= self._batch_size
        ):
            self._wake.set()

    # ----- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        await self._on_spool(self._spool.open)
        if self._spool.segments():
            self._backlog = True
        self._task = asyncio.create_task(self._run(), name="case-recorder")

    async def flush(self) -> None:
        """Wait until everything emitted so far is in the database or the spool."""
        self._wake.set()
        await self._idle.wait()

    async def close(self, grace: float = 30.0) -> None:
        """Write what is pending (to the spool if the database is down) and stop."""
        self._closing = True
        self._wake.set()
        task = self._task
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), grace)
            except TimeoutError:
                log.error("case recorder did not finish in %.0f s: spooling the rest", grace)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        leftover = [*self._inflight, *self._pending.values()]
        for cid, waiting in self._waiters.items():
            self._inflight_waiters.setdefault(cid, []).extend(waiting)
        self._waiters = {}
        self._inflight, self._pending = [], {}
        if leftover:
            if task is None:  # never started: the spool is not open yet
                await self._on_spool(self._spool.open)
            await self._to_spool(leftover)
        await self._on_spool(self._spool.close)
        for waiting in self._inflight_waiters.values():
            for done in waiting:
                if not done.done():
                    done.set_result(False)
        self._inflight_waiters = {}
        s = self.stats()
        log.info(
            "case recorder closed: %d written, %d spooled, %d replayed, %d rejected, %d dropped, "
            "%d bytes left in the spool",
            s.written,
            s.spooled,
            s.replayed,
            s.rejected,
            s.dropped,
            s.spool_bytes,
        )

    def stats(self) -> RecorderStats:
        c = self._count
        return RecorderStats(
            events=c["events"],
            ignored_events=c["ignored_events"],
            written=c["written"],
            spooled=c["spooled"],
            replayed=c["replayed"],
            rejected=c["rejected"],
            dropped_pending_full=c["dropped_pending_full"],
            dropped_spool_full=c["dropped_spool_full"],
            db_failures=c["db_failures"],
            open_cases=len(self._open),
            pending=len(self._pending),
            spool_bytes=self._spool.size,
            database_up=self._db_up,
        )

    @property
    def spool_directory(self) -> Path:
        return self._spool.directory

    # ----- the writer task ---------------------------------------------------------------------
    def _take(self, limit: int | None = None) -> list[CaseState]:
        if limit is None or limit >= len(self._pending):
            batch = list(self._pending.values())
            self._pending = {}
        else:
            batch = [self._pending.pop(cid) for cid in list(self._pending)[:limit]]
        for s in batch:
            waiting = self._waiters.pop(s.case_id, None)
            if waiting:
                self._inflight_waiters.setdefault(s.case_id, []).extend(waiting)
        return batch

    async def _run(self) -> None:
        while True:
            try:
                if await self._step():
                    return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("case recorder: unexpected failure; carrying on")
                await asyncio.sleep(self._retry_initial)

    async def _step(self) -> bool:
        """One round of the writer; True when closing and nothing is left to do."""
        if not self._pending and not self._closing:
            self._idle.set()
            self._wake.clear()
            timeout = max(0.0, self._retry_at - time.monotonic()) if self._backlog else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
        elif len(self._pending) < self._batch_size and not self._closing and self._linger:
            await asyncio.sleep(self._linger)  # let a burst gather into one batch

        batch = self._take(self._batch_size)
        self._inflight = batch
        try:
            if self._backlog:
                if batch:
                    await self._to_spool(batch)
                if self._closing or time.monotonic() >= self._retry_at:
                    await self._replay()
            elif batch:
                await self._to_database(batch)
        finally:
            self._settle(batch, False)  # not settled on the way: the batch was not kept
            self._inflight = []
        # Done when closing and everything is in the database, or safely in the spool after
        # one last attempt to replay it.
        return self._closing and not self._pending

    async def _write(self, states: Sequence[CaseState]) -> list[Rejected] | None:
        """None when the database could not be used (the caller keeps the records)."""
        try:
            async with asyncio.timeout(self._write_timeout):
                rejected = await self._writer.write(states)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._down(exc)
            return None
        self._up()
        if rejected:
            await self._reject(rejected)
        return rejected

    async def _to_database(self, batch: list[CaseState]) -> None:
        rejected = await self._write(batch)
        if rejected is None:
            await self._to_spool(batch)
            return
        refused = {r.state.case_id for r in rejected}
        self._settle([s for s in batch if s.case_id in refused], False)
        self._settle(batch, True)
        self._count["written"] += len(batch) - len(rejected)

    async def _to_spool(self, batch: Sequence[CaseState]) -> None:
        lines: list[bytes] = []
        encoded: list[CaseState] = []
        for s in batch:
            try:
                lines.append(encode_state(s))
                encoded.append(s)
            except (TypeError, ValueError) as exc:
                self._count["dropped_spool_full"] += 1
                log.critical("case %s: cannot be spooled (%s): case record DROPPED", s.case_id, exc)
        batch = encoded
        try:
            n = await self._on_spool(self._spool.append, lines)
        except SpoolError as exc:
            log.critical("case recorder: %s", exc)
            n = 0
        if n:
            self._backlog = True
            self._count["spooled"] += n
        self._settle(batch[:n], True)
        self._settle(batch[n:], False)
        for s in batch[n:]:
            self._count["dropped_spool_full"] += 1
            log.critical(
                "case %s: spool %s full or failing (%d of %d bytes used): case record DROPPED",
                s.case_id,
                self._spool.directory,
                self._spool.size,
                self._spool.max_bytes,
            )

    async def _reject(self, rejected: Sequence[Rejected]) -> None:
        self._count["rejected"] += len(rejected)
        for r in rejected:
            log.error(
                "case %s: refused by the database (%s), not written; noted in %s/rejected.jsonl",
                r.state.case_id,
                r.reason,
                self._spool.directory,
            )
        try:
            await self._on_spool(self._spool.reject, [r.line() for r in rejected])
        except SpoolError as exc:
            log.critical("case recorder: cannot keep refused records: %s", exc)

    async def _replay(self) -> None:
        """Write the spool to the database, oldest first; stop at the first failure."""
        while True:
            await self._on_spool(self._spool.rotate)
            segments = await self._on_spool(self._spool.closed_segments)
            if not segments:
                self._backlog = False
                log.info("case spool replayed: writing straight to the database again")
                return
            for segment in segments:
                if not await self._replay_segment(segment):
                    return
                # Keep memory bounded during a long replay: newer records go behind.
                if len(self._pending) >= self._batch_size:
                    await self._to_spool(self._take())

    async def _replay_segment(self, segment: Path) -> bool:
        raw = await self._on_spool(lambda: list(self._spool.read(segment)))
        states: list[CaseState] = []
        bad: list[bytes] = []
        for line in raw:
            try:
                states.append(decode_state(line))
            except BadLine as exc:
                # The line is the case snapshot (personal data) and BadLine may quote it.
                log.error(
                    "spool %s: unreadable record (%d bytes) dropped, noted in rejected.jsonl",
                    segment,
                    len(line),
                )
                bad.append(_unreadable(segment, line, exc))
        for i in range(0, len(states), self._batch_size):
            chunk = states[i : i + self._batch_size]
            rejected = await self._write(chunk)
            if rejected is None:
                return False
            self._count["replayed"] += len(chunk) - len(rejected)
        if bad:
            self._count["rejected"] += len(bad)
            await self._on_spool(self._spool.reject, bad)
        await self._on_spool(self._spool.remove, segment)
        log.info("case spool: replayed %s (%d records)", segment.name, len(states))
        return True

    def _down(self, exc: BaseException) -> None:
        self._count["db_failures"] += 1
        if self._db_up:
            log.warning(
                "database unavailable (%s): spooling case records to %s",
                exc,
                self._spool.directory,
            )
        else:
            self._retry_delay = min(self._retry_delay * 2, self._retry_max)
        self._db_up = False
        delay = self._retry_delay * random.uniform(0.8, 1.2)
        self._retry_at = time.monotonic() + delay
        log.info("case recorder: database still unavailable (%s); next try in %.1f s", exc, delay)

    def _up(self) -> None:
        if not self._db_up:
            log.info("database available again")
        self._db_up = True
        self._retry_delay = self._retry_initial
