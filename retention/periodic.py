"""The sweep as a background task of the service: every ``interval`` seconds, one run.

A failed run (database down, disk error) is logged and retried at the next interval; a run
skipped because another controller or a CLI sweep holds the lock is normal. The first run
waits ``first_delay`` seconds so that start-up is not slowed down.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from storage.errors import StorageError

log = logging.getLogger(__name__)


class Sweep(Protocol):
    async def run(self) -> object: ...


async def run_periodic(sweeper: Sweep, interval: float, *, first_delay: float = 60.0) -> None:
    if interval <= 0:
        log.info("[sweep] periodic sweep disabled")
        return
    await asyncio.sleep(min(first_delay, interval))
    while True:
        try:
            await sweeper.run()
        except (StorageError, OSError) as exc:
            log.warning("[sweep] periodic sweep failed (%s: %s)", type(exc).__name__, exc)
        await asyncio.sleep(interval)
