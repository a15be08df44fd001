"""Waiting for the first of several ringing agent legs to answer.

Both the queue flow (a live caller waits) and the callback dialer (nobody waits) ring the
offered agents at once and take whoever answers first; the queue flow also gives up as soon
as its caller hangs up.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from ivr.ari.call import Call
from ivr.ari.errors import CallHungUp


async def first_answer(
    legs: dict[str, Call], ring_timeout: float, *, caller: Call | None = None
) -> str | None:
    """The agent whose leg answered first, None if none did within the ring timeout.
    With ``caller``, raises CallHungUp as soon as that call hangs up."""

    async def wait(agent: str, leg: Call) -> str | None:
        try:
            await leg.wait_event({"StasisStart"}, timeout=ring_timeout + 1)
        except (CallHungUp, TimeoutError):
            return None
        return agent

    rings = {asyncio.create_task(wait(a, leg)) for a, leg in legs.items()}

    async def gone(call: Call) -> None:
        """Returns (by raising CallHungUp) only when the call is gone."""
        await call.wait_event(set(), timeout=None)

    watching = {asyncio.create_task(gone(caller))} if caller is not None else set()
    try:
        pending: set[asyncio.Task[str | None]] = set(rings)
        while pending:
            done, _ = await asyncio.wait(pending | watching, return_when=asyncio.FIRST_COMPLETED)
            for task in watching & done:
                task.result()  # raises CallHungUp
            for ring in rings & done:
                pending.discard(ring)
                agent = ring.result()
                if agent is not None:
                    return agent
        return None
    finally:
        tasks: list[asyncio.Task[Any]] = [*rings, *watching]
        for task in tasks:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
