"""One tenant's live wallboard: the current document, its sequence number and the recent
deltas, and the browsers watching it.

While someone watches, the hub rebuilds the document whenever it is poked (the queue engine
changed, an agent record was saved) and at least every ``interval`` seconds (what Postgres
alone knows: another controller's cases, new callback requests), at most every
``min_interval``. A changed document becomes one delta with the next sequence number, kept in
a bounded buffer and sent to every watcher. Nobody watching: nothing is rebuilt; the next
watcher's rebuild folds everything that changed meanwhile into one delta, so a browser that
comes back with ``Last-Event-ID`` still misses nothing.

Event ids are ``<epoch>-<seq>``: the epoch is new with every hub (every controller start),
so an id from before a restart, one past the buffer, or one that does not parse gets a fresh
snapshot instead of deltas.

Exceptions: building the document may raise :class:`storage.errors.StorageError` (Postgres
down); the hub logs it and tries again at the next interval, and watchers keep the last
document.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ivr.clock import Clock
from ivr.wallboard.deltas import diff
from storage.errors import StorageError

log = logging.getLogger(__name__)

Build = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Event:
    """One Server-Sent Event: ``kind`` is ``snapshot`` or ``delta``."""

    kind: str
    id: str
    data: dict[str, Any]


class Watcher:
    """One browser's stream: events in order; a watcher that falls too far behind is sent a
    fresh snapshot instead of the deltas it could not take."""

    def __init__(self, hub: WallboardHub, limit: int) -> None:
        self._hub = hub
        self._events: asyncio.Queue[Event] = asyncio.Queue(limit)
        self._behind = False

    def push(self, event: Event) -> None:
        try:
            self._events.put_nowait(event)
        except asyncio.QueueFull:
            self._behind = True

    async def next(self) -> Event:
        if self._behind:
            self._behind = False
            while not self._events.empty():
                self._events.get_nowait()
            return self._hub.snapshot_event()
        return await self._events.get()


class WallboardHub:
    def __init__(
        self,
        tenant: str,
        build: Build,
        clock: Clock,
        *,
        buffer: int = 500,
        interval: float = 1.0,
        min_interval: float = 0.2,
        watcher_limit: int = 200,
    ) -> None:
        self.tenant = tenant
        self.epoch = secrets.token_hex(4)
        self.seq = 0
        self._build = build
        self._clock = clock
        self._buffer: deque[Event] = deque(maxlen=buffer)
        self._interval = interval
        self._min_interval = min_interval
        self._watcher_limit = watcher_limit
        self._current: dict[str, Any] | None = None
        self._lock = asyncio.Lock()
        self._watchers: set[Watcher] = set()
        self._poked = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- the document ------------------------------------------------------------------------

    async def refresh(self) -> dict[str, Any]:
        """Rebuilds the document; a change becomes the next delta (sent to every watcher)."""
        async with self._lock:
            new = await self._build()
            old = self._current
            self._current = new
            if old is None:
                log.info("wallboard %s: first document (epoch %s)", self.tenant, self.epoch)
                return new
            changes = diff(old, new)
            if changes:
                self.seq += 1
                event = Event(
                    "delta",
                    self._id(self.seq),
                    {"seq": self.seq, "now": self._now(), "changes": changes},
                )
                self._buffer.append(event)
                for watcher in list(self._watchers):
                    watcher.push(event)
            return new

    def document(self) -> dict[str, Any]:
        """The current document with its ``seq`` and the server's ``now`` (after a refresh)."""
        assert self._current is not None, "refresh() first"
        return {**self._current, "seq": self.seq, "now": self._now()}

    def snapshot_event(self) -> Event:
        return Event("snapshot", self._id(self.seq), self.document())

    def since(self, last_event_id: str | None) -> list[Event]:
        """What a browser that saw ``last_event_id`` needs: the deltas after it, or a
        snapshot (no id, another epoch, or older than the buffer)."""
        seq = self._parse(last_event_id)
        if seq is None or seq > self.seq:
            return [self.snapshot_event()]
        missed = [e for e in self._buffer if e.data["seq"] > seq]
        if len(missed) != self.seq - seq:
            log.info("wallboard %s: id %s older than the buffer: snapshot", self.tenant, seq)
            return [self.snapshot_event()]
        return missed

    # -- watchers ----------------------------------------------------------------------------

    @asynccontextmanager
    async def watch(
        self, last_event_id: str | None = None
    ) -> AsyncIterator[tuple[list[Event], Watcher]]:
        """The events to send first and the watcher for the rest; the hub keeps the
        document fresh while anyone watches."""
        await self.refresh()
        watcher = Watcher(self, self._watcher_limit)
        first = self.since(last_event_id)  # no await between the refresh and the registration
        self._watchers.add(watcher)
        self._ensure_running()
        try:
            yield first, watcher
        finally:
            self._watchers.discard(watcher)

    @property
    def watchers(self) -> int:
        return len(self._watchers)

    def poke(self) -> None:
        """Something changed: rebuild soon (only while someone watches)."""
        if self._watchers:
            self._poked.set()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"wallboard-{self.tenant}")

    async def _run(self) -> None:
        while self._watchers:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._poked.wait()
            self._poked.clear()
            if not self._watchers:
                break
            try:
                await self.refresh()
            except StorageError as exc:
                log.warning("wallboard %s: figures unavailable: %s", self.tenant, exc)
            except Exception:
                log.exception("wallboard %s: refresh failed", self.tenant)
            await asyncio.sleep(self._min_interval)
        log.info("wallboard %s: nobody watching; idle at seq %d", self.tenant, self.seq)

    # -- internals ---------------------------------------------------------------------------

    def _id(self, seq: int) -> str:
        return f"{self.epoch}-{seq}"

    def _parse(self, last_event_id: str | None) -> int | None:
        if not last_event_id:
            return None
        epoch, _, seq = last_event_id.strip().partition("-")
        if epoch != self.epoch or not (seq.isascii() and seq.isdigit()) or len(seq) > 12:
            return None
        return int(seq)

    def _now(self) -> str:
        now: datetime = self._clock()
        return now.isoformat()
