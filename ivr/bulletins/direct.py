"""Bulletin calls the dialplan serves alone: no Stasis, no ARI request, no controller.

While a bulletin number's fallback file holds what is in force, the controller sets the
Asterisk global ``LINJA_DIRECT_<number>`` to ``<until>:<number id> <bulletin ids>``: the
epoch second (floored) of the number's next bulletin start or end (or a day ahead when none
is due), then what the call is counted as. The number's extension starts with a check
(``dialplan/linja.conf``)::

    exten => 100,1,GotoIf($[${EPOCH} < 0${CUT(GLOBAL(LINJA_DIRECT_${EXTEN}),:,1)}
      & ${STAT(e,/var/lib/linja/fallback/${EXTEN}.wav)}]?linja-fallback,${EXTEN},direct)

so until that second, and while the file is there, a call is answered and played from the
file by the dialplan, which appends a line for it to the number's heard file, counted by the
controller (:mod:`ivr.bulletins.heard`). Otherwise (the variable empty or unset, its second
passed, the file missing, an extension without the check) the call goes to Stasis as before.

The controller empties the variable as soon as the file is no longer current (a bulletin
set or ended: its file is rewritten and the variable set again) and sets it again after
Asterisk restarts (globals do not survive one; seen from Asterisk's startup time). With
``LINJA_BULLETIN_DIRECT=false`` it empties every number's variable, so all calls come to the
controller. A controller that stops leaves the variables: the dialplan goes on serving and
its heard files wait for the next controller, up to each number's ``until``.

Only numbers that are a valid variable-name part (letters, digits, ``_``) are published.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from ivr.ari.asterisk import set_global, startup_time
from ivr.ari.errors import AriError
from ivr.ari.protocol import AriRest
from ivr.bulletins.state import NumberState
from ivr.clock import Clock

__all__ = ["PREFIX", "DirectRoutes", "wanted"]

log = logging.getLogger(__name__)

PREFIX = "LINJA_DIRECT_"
HORIZON = timedelta(days=1)  # until, when no bulletin of the number starts or ends before
RECHECK = 5.0  # seconds between looks at Asterisk's startup time
_NAME = re.compile(r"^[A-Za-z0-9_]+$")


class DirectSource(Protocol):
    def numbers(self) -> list[str]: ...

    def state(self, number: str) -> NumberState | None: ...

    def fallback_plays(self, number: str, media: Sequence[str], *, look: bool = False) -> bool: ...

    def next_boundary(self, number: str | None = None) -> datetime | None: ...


def wanted(source: DirectSource, number: str, now: datetime) -> str:
    """The value of ``number``'s variable now: empty unless its fallback file holds what is
    in force."""
    state = source.state(number)
    if state is None or not _NAME.match(number):
        return ""
    active = state.active(now)
    if not source.fallback_plays(number, state.media(active), look=True):
        return ""
    boundary = source.next_boundary(number)
    if boundary is None:  # a day ahead, on the hour: the value changes once an hour
        boundary = now.replace(minute=0, second=0, microsecond=0) + HORIZON
    ids = ",".join(str(p.bulletin_id) for p in active) or "-"
    return f"{int(boundary.timestamp())}:{state.number_id} {ids}"


class DirectRoutes:
    def __init__(
        self,
        rest: AriRest,
        source: DirectSource,
        clock: Clock,
        *,
        enabled: bool = True,
        interval: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rest = rest
        self._source = source
        self._clock = clock
        self._enabled = enabled
        self._interval = interval
        self._published: dict[str, str] = {}
        self._monotonic = monotonic
        self._started: Any = None  # Asterisk's startup time, as last seen
        self._checked = 0.0  # when it was
        self._poke = asyncio.Event()
        self._failing = False

    def poke(self) -> None:
        """Publish at once (a fallback file was rewritten)."""
        self._poke.set()

    async def publish(self) -> None:
        """One pass: every number's variable as it should be now. ARI failures are logged
        once and left to the next pass."""
        try:
            await self._check_restart()
            numbers = set(self._source.numbers())
            now = self._clock()
            for number in sorted(numbers | self._published.keys()):
                value = wanted(self._source, number, now) if self._enabled else ""
                if self._published.get(number) != value:
                    await self._set(number, value, gone=number not in numbers)
        except AriError as exc:
            if not self._failing:
                log.warning("direct bulletin routes not published (%s); trying again", exc)
            self._failing = True
            self._started = None  # look again: it may be a restart
            return
        if self._failing:
            log.info("direct bulletin routes published again")
        self._failing = False

    async def _check_restart(self) -> None:
        now = self._monotonic()
        if self._started is not None and now - self._checked < RECHECK:
            return
        self._checked = now
        started = await startup_time(self._rest)
        if started != self._started:
            if self._started is not None:
                log.info("Asterisk restarted (%s): direct bulletin routes set again", started)
            self._published.clear()  # a restarted Asterisk has no globals: set them all
            self._started = started

    async def _set(self, number: str, value: str, *, gone: bool) -> None:
        await set_global(self._rest, PREFIX + number, value)
        before = self._published.get(number)
        self._published[number] = value
        if value:
            until, counted = value.split(":", 1)
            log.info(
                "calls to %s are served by the dialplan alone until %s (counted as %s)",
                number,
                datetime.fromtimestamp(int(until), UTC).isoformat(timespec="seconds"),
                counted,
            )
        elif before:
            log.info("calls to %s go to the controller (its fallback file is not current)", number)
        if gone:  # emptied (a number gone has no value): nothing more to say of it
            self._published.pop(number, None)

    async def run(self) -> None:
        while True:
            await self.publish()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), timeout=self._interval)
            self._poke.clear()
