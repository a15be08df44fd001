"""Every tenant's wallboard hub, made when a tenant's wallboard is first asked for."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from ivr.clock import Clock
from ivr.wallboard.hub import WallboardHub

log = logging.getLogger(__name__)


class Documents(Protocol):
    async def document(self, slug: str) -> dict[str, Any]: ...


class Wallboards:
    def __init__(self, source: Documents, clock: Clock, **hub_options: Any) -> None:
        self._source = source
        self._clock = clock
        self._options = hub_options
        self._hubs: dict[str, WallboardHub] = {}
        self.closing = asyncio.Event()  # set at shutdown: every stream ends

    def hub(self, slug: str) -> WallboardHub:
        """The hub of a tenant that exists (the caller checked the slug)."""
        hub = self._hubs.get(slug)
        if hub is None:

            async def build() -> dict[str, Any]:
                return await self._source.document(slug)

            hub = self._hubs[slug] = WallboardHub(slug, build, self._clock, **self._options)
        return hub

    def poke(self) -> None:
        """Something changed in the queues or the agents: every watched hub rebuilds."""
        for hub in self._hubs.values():
            hub.poke()

    async def close(self) -> None:
        self.closing.set()
        for hub in self._hubs.values():
            await hub.close()
