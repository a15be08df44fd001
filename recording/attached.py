"""Rows for audio made on a case the case recorder does not hold.

A callback conversation belongs to the case the caller opened earlier, maybe on another
controller, and a recording recovered after a controller crash belongs to a case the new
controller never saw, so :class:`storage.recorder.CaseRecorder` (which builds a case from its
own events) cannot take their ``RecordingCompleted`` / ``VoiceMessageSaved``.
:class:`AttachedRecordings` is the event sink used instead: each row is written straight to
its table (:meth:`storage.repositories.media.AudioRows.attach`, idempotent), retried with
backoff while Postgres is unavailable, so a database restart meanwhile loses nothing.

Before the first try the row is put in the fsync'd :class:`recording.journal.RowJournal`, and
taken out once written: a row still being retried at shutdown, after ``retry_for`` or after a
``kill -9`` is tried again by :meth:`AttachedRecordings.replay` (at start and periodically),
and the sweeper keeps its file meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

from recording.journal import Audio, RowJournal, audio_id
from storage.errors import NotFound, StorageError
from storage.events import CaseEvent, RecordingCompleted, VoiceMessageSaved

log = logging.getLogger(__name__)


class Attacher(Protocol):
    async def attach(self, event: Audio) -> bool: ...


class AttachedRecordings:
    def __init__(
        self,
        rows: Attacher,
        *,
        journal: RowJournal,
        retry_for: float = 3600.0,
        first_delay: float = 0.5,
        max_delay: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._rows = rows
        self._journal = journal
        self._writing: set[uuid.UUID] = set()  # audio ids with a write task
        self._retry_for = retry_for
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._sleep = sleep
        self._pending: set[asyncio.Task[None]] = set()
        # case -> audio id -> settled once its row is journaled (or, failing that, written)
        self._keeping: dict[uuid.UUID, dict[uuid.UUID, asyncio.Future[bool]]] = {}

    def emit(self, event: CaseEvent) -> None:
        """Write the audio's row in the background (never blocks, never raises)."""
        if not isinstance(event, RecordingCompleted | VoiceMessageSaved):
            log.warning("[%s] %s is not audio: ignored", event.case_id, type(event).__name__)
            return
        self._start(event, journaled=False)

    async def durable(self, case_id: uuid.UUID) -> bool:
        """Wait until every row emitted for the case so far is in the fsync'd journal (or
        the table); False when one could be kept in neither."""
        waiting = list(self._keeping.get(case_id, {}).values())
        return all([await f for f in waiting])

    def _settle(self, event: Audio, kept: bool) -> None:
        mine = self._keeping.get(event.case_id, {})
        done = mine.pop(audio_id(event), None)
        if not mine:
            self._keeping.pop(event.case_id, None)
        if done is not None and not done.done():
            done.set_result(kept)

    async def replay(self) -> int:
        """Try again every journaled row that no task is writing; returns how many."""
        events = await asyncio.to_thread(self._journal.pending)
        started = [e for e in events if audio_id(e) not in self._writing]
        for event in started:
            log.info(
                "[%s] recording %s: row from the journal, trying again",
                event.case_id, audio_id(event),
            )  # fmt: skip
            self._start(event, journaled=True)
        return len(started)

    async def replay_periodically(self, interval: float = 300.0) -> None:
        """:meth:`replay` at once (what a crash left), then every ``interval`` seconds."""
        while True:
            try:
                await self.replay()
            except OSError as exc:
                log.error("audio-row journal %s unreadable: %s", self._journal.directory, exc)
            await asyncio.sleep(interval)

    def _start(self, event: Audio, *, journaled: bool) -> None:
        aid = audio_id(event)
        self._writing.add(aid)
        loop = asyncio.get_running_loop()
        if not journaled:
            self._keeping.setdefault(event.case_id, {}).setdefault(aid, loop.create_future())
        task = loop.create_task(self._write(event, journaled))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        task.add_done_callback(lambda _t: self._writing.discard(aid))

    async def _write(self, event: Audio, journaled: bool) -> None:
        if not journaled:
            try:
                await asyncio.to_thread(self._journal.keep, event)
                self._settle(event, True)
            except OSError as exc:  # the disk failed: the row may still make it to the table
                log.error(
                    "[%s] recording %s: cannot journal its row (%s)",
                    event.case_id, audio_id(event), exc,
                )  # fmt: skip
        attached = False
        try:
            attached = await self._attach(event)
        finally:
            self._settle(event, attached)  # no-op once journaled
        if attached:
            try:
                await asyncio.to_thread(self._journal.drop, event)
            except OSError as exc:
                log.error("[%s] audio-row journal: %s", event.case_id, exc)

    async def _attach(self, event: Audio) -> bool:
        """Write the row, retrying; True when done with it (written, or its case is gone)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._retry_for
        delay = self._first_delay
        while True:
            try:
                added = await self._rows.attach(event)
            except NotFound:
                log.error(
                    "[%s] recording %s: the case does not exist; its file stays at %s",
                    event.case_id, audio_id(event), event.location,
                )  # fmt: skip
                return True
            except (StorageError, OSError) as exc:
                if loop.time() + delay > deadline:
                    log.error(
                        "[%s] recording %s: row not written (%s); kept in the journal for "
                        "the next try, its file stays at %s",
                        event.case_id, audio_id(event), type(exc).__name__, event.location,
                    )  # fmt: skip
                    return False
                log.warning(
                    "[%s] recording %s: database unavailable (%s); retrying in %.1fs",
                    event.case_id, audio_id(event), type(exc).__name__, delay,
                )  # fmt: skip
                await self._sleep(delay)
                delay = min(delay * 2, self._max_delay)
                continue
            log.info(
                "[%s] recording %s row %s", event.case_id, audio_id(event),
                "written" if added else "was already there",
            )  # fmt: skip
            return True

    async def close(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Give rows still being retried a last chance, then stop."""
        if not self._pending:
            return
        _done, pending = await asyncio.wait(set(self._pending), timeout=timeout)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if pending:
            log.error(
                "%d audio row(s) not written at shutdown: kept in the journal %s",
                len(pending), self._journal.directory,
            )  # fmt: skip
