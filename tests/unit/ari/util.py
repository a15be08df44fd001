"""Small helpers shared by the ARI tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(predicate: Callable[[], object], within: float = 2.0) -> None:
    """Poll test state until ``predicate()`` is truthy; TimeoutError after ``within`` s."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - polling plain test state, no event to wait on
            await asyncio.sleep(0.005)
