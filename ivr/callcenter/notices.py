"""Listens for Postgres NOTIFY on the shared queues' channel (``linja_queues``): each
notification names the controller whose transaction changed the queues."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

from storage.db import connect
from storage.repositories.shared_queues import NOTIFY_CHANNEL
from storage.settings import DatabaseSettings

log = logging.getLogger(__name__)


async def listen(settings: DatabaseSettings, poke: Callable[[str], None]) -> None:
    """Run until cancelled; reconnects with backoff. Every (re)connect pokes once (with an
    empty payload), since notifications sent while disconnected are lost."""
    delay = 0.5
    warned = False
    while True:
        try:
            conn = await connect(settings, connect_timeout=5)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            if not warned:
                log.warning(
                    "shared queues: listener cannot connect (%s); retrying", type(exc).__name__
                )
                warned = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
            continue
        lost = asyncio.Event()

        def on_notify(_c: Any, _pid: int, _channel: str, payload: str) -> None:
            poke(payload)

        conn.add_termination_listener(lambda _c, lost=lost: lost.set())
        try:
            await conn.add_listener(NOTIFY_CHANNEL, on_notify)
            if warned:
                log.info("shared queues: listener reconnected")
            warned, delay = False, 0.5
            poke("")
            while not lost.is_set():
                try:
                    await asyncio.wait_for(lost.wait(), timeout=15)
                except TimeoutError:
                    await conn.execute("SELECT 1")  # notices a dead server
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning("shared queues: listener lost its connection (%s)", type(exc).__name__)
            warned = True
        finally:
            if not conn.is_closed():
                conn.terminate()
