"""Listens for Postgres NOTIFY on the bulletin channel and pokes the bulletin service."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

from ivr.config import Settings
from storage.db import connect
from storage.repositories.bulletins import NOTIFY_CHANNEL

log = logging.getLogger(__name__)


async def listen(settings: Settings, poke: Callable[[], None]) -> None:
    """Run until cancelled; reconnects with backoff. Every (re)connect pokes once, since
    notifications sent while disconnected are lost."""
    delay = 0.5
    warned = False
    while True:
        try:
            conn = await connect(settings, connect_timeout=5)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            if not warned:
                log.warning("bulletin listener cannot connect (%s); retrying", type(exc).__name__)
                warned = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
            continue
        lost = asyncio.Event()

        def on_notify(_c: Any, _pid: int, _channel: str, payload: str) -> None:
            log.info("bulletins changed on %s", payload)
            poke()

        conn.add_termination_listener(lambda _c, lost=lost: lost.set())
        try:
            await conn.add_listener(NOTIFY_CHANNEL, on_notify)
            if warned:
                log.info("bulletin listener reconnected")
            warned, delay = False, 0.5
            poke()
            while not lost.is_set():
                try:
                    await asyncio.wait_for(lost.wait(), timeout=15)
                except TimeoutError:
                    await conn.execute("SELECT 1")  # notices a dead server
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning("bulletin listener lost its connection (%s)", type(exc).__name__)
            warned = True
        finally:
            if not conn.is_closed():
                conn.terminate()
