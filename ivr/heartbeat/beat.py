"""The heartbeat task: beats this controller's row and ends the cases of lost controllers.

::

    start: register (id, node)              every interval:  beat
                                                             end_lost_cases (other
                                                               controllers down > bound)
    clean stop: stopped_at = now()

A beat that cannot be written (Postgres down) is logged and tried again at the next
interval; nothing else waits on it. While Postgres is down nobody's beat is written, so
nobody is judged down by a beat missed then: every controller beats again once it is back,
and only one whose beat stays old is down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from storage.errors import StorageError
from storage.repositories.controllers import LostCase

log = logging.getLogger(__name__)

__all__ = ["Heartbeat", "Heartbeats"]


class Heartbeats(Protocol):
    """What the task needs of :class:`storage.repositories.controllers.ControllerRepository`."""

    async def register(self, controller: str, node: str) -> None: ...

    async def beat(self, controller: str, node: str) -> None: ...

    async def stop(self, controller: str) -> None: ...

    async def end_lost_cases(self, me: str, *, limit: int = ...) -> list[LostCase]: ...


class Heartbeat:
    def __init__(self, store: Heartbeats, me: str, node: str, *, interval: float) -> None:
        self._store = store
        self._me = me
        self._node = node
        self._interval = interval
        self._registered = False
        self.lost_total = 0  # cases this controller ended as node_lost

    @property
    def me(self) -> str:
        return self._me

    async def run(self) -> None:
        while True:
            await self.once()
            await asyncio.sleep(self._interval)

    async def once(self) -> list[LostCase]:
        """One beat and one look for lost controllers' cases; never raises a storage error."""
        try:
            if not self._registered:
                await self._store.register(self._me, self._node)
                self._registered = True
                log.info("controller %s of node %s registered", self._me, self._node)
            else:
                await self._store.beat(self._me, self._node)
            lost = await self._store.end_lost_cases(self._me)
        except StorageError as exc:
            log.warning("controller %s: heartbeat not written (%s); trying again", self._me, exc)
            return []
        self._report(lost)
        return lost

    def _report(self, lost: Sequence[LostCase]) -> None:
        self.lost_total += len(lost)
        for case in lost:
            log.warning(
                "case %s: ended node_lost at %s (its controller %s is down)",
                case.case_id,
                case.at.isoformat(),
                case.controller,
            )

    async def close(self) -> None:
        """A clean stop: the row says so (the wallboard shows the node stopped at once)."""
        try:
            await self._store.stop(self._me)
            log.info("controller %s stopped", self._me)
        except StorageError as exc:
            log.warning("controller %s: stop not written (%s)", self._me, exc)
