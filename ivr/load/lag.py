"""Event-loop lag: how late a timer fires. A loop that is behind serves every call late."""

from __future__ import annotations

import asyncio
import logging

__all__ = ["LoopLag"]

log = logging.getLogger(__name__)


class LoopLag:
    """``run()`` sleeps ``interval`` seconds again and again and measures how much later
    than asked it woke up. :attr:`seconds` is a decaying maximum: a stall shows at once and
    fades over a few intervals, so one slow moment does not shed calls for long."""

    def __init__(self, interval: float = 0.1, decay: float = 0.7) -> None:
        self._interval = interval
        self._decay = decay
        self._lag = 0.0

    @property
    def seconds(self) -> float:
        return self._lag

    def observe(self, late: float) -> None:
        """One measurement: the timer fired ``late`` seconds after its time."""
        late = max(late, 0.0)
        self._lag = max(late, self._lag * self._decay)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self._interval
            await asyncio.sleep(self._interval)
            self.observe(loop.time() - due)
