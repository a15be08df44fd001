"""This controller's Asterisk gone: the calls it held end as ``node_lost``.

When Asterisk dies (``kill -9``, a crash, its machine) every channel it carried is gone
with it, but the controller's flows wait for events that never come, and when Asterisk is
back the resync ends them as if each caller had hung up. The watch looks at the ARI event
stream every ``interval`` seconds; once it has been down ``bound`` seconds it ends every
phone case opened before the outage with outcome ``node_lost`` at the moment the outage was
first seen (:meth:`storage.recorder.CaseRecorder.end_open`), once per outage. The flows'
own ends that follow are ignored by the recorder.

(An event stream down while Asterisk itself kept running, for ``bound`` seconds, would also
end the cases: their calls may have gone on. Not seen here; the bound is well above a
reconnect's backoff.)
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime

log = logging.getLogger(__name__)

__all__ = ["AsteriskWatch"]

EndOpen = Callable[[datetime], list[uuid.UUID]]


class AsteriskWatch:
    def __init__(
        self,
        connected: Callable[[], bool],
        end_open: EndOpen,
        clock: Callable[[], datetime],
        *,
        bound: float,
        interval: float,
    ) -> None:
        self._connected = connected
        self._end_open = end_open
        self._clock = clock
        self._bound = bound
        self._interval = interval
        self._down_since: datetime | None = None
        self._ended = False  # this outage's cases were ended
        self._was_up = False  # nothing is lost before the stream was ever up

    async def run(self) -> None:
        while True:
            self.look()
            await asyncio.sleep(self._interval)

    def look(self) -> list[uuid.UUID]:
        """One look; the cases ended by it (empty unless an outage just passed the bound)."""
        now = self._clock()
        if self._connected():
            if self._down_since is not None:
                log.info("ARI events back after an outage since %s", self._down_since.isoformat())
            self._down_since, self._ended, self._was_up = None, False, True
            return []
        if not self._was_up:
            return []
        if self._down_since is None:
            self._down_since = now
            return []
        if self._ended or (now - self._down_since).total_seconds() < self._bound:
            return []
        self._ended = True
        lost = self._end_open(self._down_since)
        log.warning(
            "Asterisk gone since %s (no ARI events for %.0f s): %d call(s) ended node_lost",
            self._down_since.isoformat(),
            self._bound,
            len(lost),
        )
        for cid in lost:
            log.warning("case %s: ended node_lost (this controller's Asterisk is gone)", cid)
        return lost
