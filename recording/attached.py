"""Rows for audio made on a case the case recorder does not hold.

A callback conversation belongs to the case the caller opened earlier, maybe on another
controller, and a recording recovered after a controller crash belongs to a case the new
controller never saw, so :class:`storage.recorder.CaseRecorder` (which builds a case from its
own events) cannot take their ``RecordingCompleted`` / ``VoiceMessageSaved``.
:class:`AttachedRecordings` is the event sink used instead: each row is written straight to
its table (:meth:`storage.repositories.media.AudioRows.attach`, idempotent), retried with
backoff while Postgres is unavailable, so a database restart meanwhile loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from storage.errors import NotFound, StorageError
from storage.events import CaseEvent, RecordingCompleted, VoiceMessageSaved

log = logging.getLogger(__name__)


Audio = RecordingCompleted | VoiceMessageSaved


class Attacher(Protocol):
    async def attach(self, event: Audio) -> bool: ...


class AttachedRecordings:
    def __init__(
        self,
        rows: Attacher,
        *,
        retry_for: float = 3600.0,
        first_delay: float = 0.5,
        max_delay: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._rows = rows
        self._retry_for = retry_for
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._sleep = sleep
        self._pending: set[asyncio.Task[None]] = set()

    def emit(self, event: CaseEvent) -> None:
        """Write the audio's row in the background (never blocks, never raises)."""
        if not isinstance(event, RecordingCompleted | VoiceMessageSaved):
            log.warning("[%s] %s is not audio: ignored", event.case_id, type(event).__name__)
            return
        task = asyncio.get_running_loop().create_task(self._write(event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _write(self, event: Audio) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._retry_for
        delay = self._first_delay
        while True:
            try:
                added = await self._rows.attach(event)
            except NotFound:
                log.error(
                    "[%s] recording %s: the case does not exist; its file stays at %s",
                    event.case_id, _audio_id(event), event.location,
                )  # fmt: skip
                return
            except (StorageError, OSError) as exc:
                if loop.time() + delay > deadline:
                    log.error(
                        "[%s] recording %s: row not written (%s); its file stays at %s",
                        event.case_id, _audio_id(event), type(exc).__name__, event.location,
                    )  # fmt: skip
                    return
                log.warning(
                    "[%s] recording %s: database unavailable (%s); retrying in %.1fs",
                    event.case_id, _audio_id(event), type(exc).__name__, delay,
                )  # fmt: skip
                await self._sleep(delay)
                delay = min(delay * 2, self._max_delay)
                continue
            log.info(
                "[%s] recording %s row %s", event.case_id, _audio_id(event),
                "written" if added else "was already there",
            )  # fmt: skip
            return

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
            log.error("%d audio row(s) not written at shutdown", len(pending))


def _audio_id(event: Audio) -> object:
    return event.recording_id if isinstance(event, RecordingCompleted) else event.voice_message_id
