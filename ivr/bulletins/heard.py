"""The calls the dialplan served alone (:mod:`ivr.bulletins.direct`), counted from its files.

For each such call the dialplan appends one line to ``<heard dir>/<number>.log``
(``dialplan/linja.conf``, label ``direct`` of ``[linja-fallback]``)::

    <epoch> <channel id> <number> <number id> <bulletin ids, comma-separated, or ->

No caller data: the channel id is Asterisk's ``UNIQUEID`` (a time and a sequence number).

Every :meth:`HeardFiles.take` sets the files written since the last one aside (renamed to
``<uuid>.taken``: Asterisk opens the file for each line, so its next line starts a new file)
and counts the files set aside at the take before, so that a line being written while its
file was renamed has landed. A file's calls become one journal segment of the call counter
named by the file's uuid (:meth:`~ivr.bulletins.counter.CallCounter.adopt`) before the file
is deleted: a ``kill -9`` in between counts that file once all the same, and files left by a
controller that died are taken by the next one at its first take. Each call is told to the
flow metrics as an announcement started and ended, and named in the one-a-second log line of
channels that heard a fallback file.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from ivr.bulletins.counter import Key

__all__ = ["Heard", "HeardFiles", "parse_line"]

log = logging.getLogger(__name__)

FLOW = "announcement"
WRITTEN = ".log"
ASIDE = ".taken"


class Adopts(Protocol):
    def adopt(self, seg_id: uuid.UUID, counts: Mapping[Key, int]) -> bool: ...


class FlowsTold(Protocol):
    """The flow metrics (:class:`ivr.flows.router.FlowEvents`)."""

    def flow_started(self, flow: str) -> None: ...

    def flow_ended(self, flow: str) -> None: ...


# channel id, number, items played, bulletins as shown (:meth:`ivr.flows.fastpath.HandedLog.add`)
Handed = Callable[[str, str, int, str], None]


class Heard:
    """One line: a call the dialplan served alone."""

    __slots__ = ("bulletins", "channel", "hour", "number", "number_id")

    def __init__(
        self,
        hour: datetime,
        channel: str,
        number: str,
        number_id: uuid.UUID,
        bulletins: tuple[uuid.UUID, ...],
    ) -> None:
        self.hour = hour
        self.channel = channel
        self.number = number
        self.number_id = number_id
        self.bulletins = bulletins

    def counter_keys(self) -> Iterable[Key]:
        for bid in self.bulletins or (None,):
            yield (self.number_id, bid, self.hour)


def parse_line(line: str) -> Heard | None:
    """A line of a heard file, or None when it is not one."""
    parts = line.split()
    if len(parts) != 5:
        return None
    epoch, channel, number, number_id, ids = parts
    try:
        at = datetime.fromtimestamp(int(epoch), UTC)
        nid = uuid.UUID(number_id)
        bulletins = () if ids == "-" else tuple(uuid.UUID(b) for b in ids.split(","))
    except (ValueError, OverflowError, OSError):
        return None
    return Heard(at.replace(minute=0, second=0, microsecond=0), channel, number, nid, bulletins)


class HeardFiles:
    def __init__(
        self,
        directory: Path,
        counter: Adopts,
        events: Callable[[], FlowsTold],
        handed: Handed,
    ) -> None:
        self._dir = directory
        self._counter = counter
        self._events = events
        self._handed = handed
        self._aside: list[Path] | None = None  # None: the first take (a predecessor's too)
        self.counted = 0

    def take(self) -> int:
        """Count the files set aside at the last take and set aside those written since;
        how many calls were counted."""
        aside = self._aside if self._aside is not None else self._glob(ASIDE)
        self._aside = [p for p in aside if not self._count(p)]  # kept: try again
        for path in self._glob(WRITTEN):
            taken = path.with_name(f"{uuid.uuid4()}{ASIDE}")
            try:
                path.rename(taken)
            except OSError as exc:
                log.warning("heard file %s not set aside (%s)", path, exc)
                continue
            self._aside.append(taken)
        return self.counted

    def _glob(self, suffix: str) -> list[Path]:
        try:
            return sorted(self._dir.glob(f"*{suffix}"))
        except OSError:
            return []

    def _count(self, path: Path) -> bool:
        """Count one set-aside file and delete it; False if it stays (for the next take)."""
        try:
            seg_id = uuid.UUID(path.stem)
            text = path.read_text(encoding="ascii", errors="replace")
        except ValueError:
            log.warning("heard file %s has no uuid name: left alone", path)
            return True
        except FileNotFoundError:
            return True
        except OSError as exc:
            log.warning("heard file %s not readable (%s)", path, exc)
            return False
        calls: list[Heard] = []
        bad = 0
        for line in text.splitlines():
            heard = parse_line(line)
            if heard is None:
                bad += line.strip() != ""
            else:
                calls.append(heard)
        counts: dict[Key, int] = {}
        for heard in calls:
            for key in heard.counter_keys():
                counts[key] = counts.get(key, 0) + 1
        if not self._counter.adopt(seg_id, counts):
            return False
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:  # counted once all the same: the segment has its id
            log.warning("heard file %s not deleted (%s)", path, exc)
        if bad:
            log.warning("%d line(s) of heard file %s not understood: not counted", bad, path)
        events = self._events()
        for heard in calls:
            events.flow_started(FLOW)
            events.flow_ended(FLOW)
            shown = ", ".join(map(str, heard.bulletins)) or "none"
            self._handed(heard.channel, heard.number, len(heard.bulletins) or 1, shown)
        self.counted += len(calls)
        return True

    async def run(self, interval: float = 1.0) -> None:
        while True:
            self.take()
            await asyncio.sleep(interval)
