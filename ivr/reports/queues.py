"""Daily and hourly figures per queue, from the stored queue stays (``queue_entries`` with
their case's handle time). Pure: the rows come from
:class:`storage.repositories.reports.ReportRepository`.

Definitions (the README's *Cases and reports*):

- **offered**: stays that entered the queue in the period (a case queued twice counts twice);
- **answered**: stays that ended ``served``; **abandoned**: ended ``abandoned``; a *short*
  abandon (waited under ``short_abandon``, default 5 s) is counted in ``abandoned`` and in
  ``short_abandoned`` but left out of the service level;
- **overflowed**: refused on entry, or the queue's ``max_wait`` ran out (``timeout``);
- **service level**: answered within the queue's threshold (``thresholds``: each queue's
  ``service_level_threshold`` from the flow file; else ``threshold``, default 20 s) /
  (offered - short abandons - stays still waiting), in percent; ``None`` when nothing
  counts;
- **average and 90th-percentile wait**: over the stays that ended (nearest rank);
- **average handle time**: the served cases' ``service_time``.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum

from storage.events import QueueExit
from storage.repositories.reports import Stay

DEFAULT_THRESHOLD = timedelta(seconds=20)
SHORT_ABANDON = timedelta(seconds=5)
OVERFLOW_EXITS = frozenset({QueueExit.OVERFLOWED.value, QueueExit.TIMEOUT.value})


class Period(StrEnum):
    DAY = "day"
    HOUR = "hour"


@dataclass(frozen=True, slots=True)
class QueueFigures:
    period_start: datetime  # local midnight or the local hour, in the tenant's zone
    queue: str
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    overflowed: int
    service_level: float | None  # percent
    average_wait: float | None  # seconds
    p90_wait: float | None
    average_handle: float | None
    threshold: float = DEFAULT_THRESHOLD.total_seconds()  # the service level's, seconds


@dataclass
class _Bucket:
    stays: list[Stay] = field(default_factory=list)


def bucket_start(at: datetime, zone: tzinfo, period: Period) -> datetime:
    """The local start of ``at``'s day or hour in ``zone``."""
    local = at.astimezone(zone)
    if period is Period.DAY:
        return local.replace(hour=0, minute=0, second=0, microsecond=0)
    return local.replace(minute=0, second=0, microsecond=0)


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile (``share`` in (0, 1]) of ``values``; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def _mean(values: Sequence[float]) -> float | None:
    return None if not values else round(sum(values) / len(values), 3)


def figures(
    period_start: datetime,
    queue: str,
    stays: Sequence[Stay],
    *,
    threshold: timedelta = DEFAULT_THRESHOLD,
    short_abandon: timedelta = SHORT_ABANDON,
) -> QueueFigures:
    """The figures of one queue's stays in one period."""
    served = [s for s in stays if s.exit_reason == QueueExit.SERVED.value]
    abandoned = [s for s in stays if s.exit_reason == QueueExit.ABANDONED.value]
    short = [s for s in abandoned if s.wait is not None and s.wait < short_abandon]
    waiting = [s for s in stays if s.exit_reason is None]
    in_time = [s for s in served if s.wait is not None and s.wait <= threshold]
    counted = len(stays) - len(short) - len(waiting)
    waits = [
        s.wait.total_seconds() for s in stays if s.exit_reason is not None and s.wait is not None
    ]
    handles = [s.handle_time.total_seconds() for s in served if s.handle_time is not None]
    p90 = percentile(waits, 0.9)
    return QueueFigures(
        period_start=period_start,
        queue=queue,
        offered=len(stays),
        answered=len(served),
        abandoned=len(abandoned),
        short_abandoned=len(short),
        overflowed=sum(1 for s in stays if s.exit_reason in OVERFLOW_EXITS),
        service_level=None if counted <= 0 else round(100.0 * len(in_time) / counted, 1),
        average_wait=_mean(waits),
        p90_wait=None if p90 is None else round(p90, 3),
        average_handle=_mean(handles),
        threshold=threshold.total_seconds(),
    )


def report(
    stays: Iterable[Stay],
    zone: tzinfo,
    period: Period,
    *,
    threshold: timedelta = DEFAULT_THRESHOLD,
    thresholds: Mapping[str, timedelta] | None = None,
    short_abandon: timedelta = SHORT_ABANDON,
) -> list[QueueFigures]:
    """Figures per (period, queue), oldest period first, queues by name. A queue's service
    level counts within ``thresholds[queue]``, else within ``threshold``."""
    per_queue = thresholds or {}
    buckets: dict[tuple[datetime, str], _Bucket] = {}
    for stay in stays:
        key = (bucket_start(stay.entered_at, zone, period), stay.queue)
        buckets.setdefault(key, _Bucket()).stays.append(stay)
    return [
        figures(start, queue, buckets[(start, queue)].stays,
                threshold=per_queue.get(queue, threshold), short_abandon=short_abandon)
        for start, queue in sorted(buckets, key=lambda k: (k[0].timestamp(), k[1]))
    ]  # fmt: skip


COLUMNS = (
    "period_start",
    "queue",
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "overflowed",
    "service_level",
    "threshold",
    "average_wait",
    "p90_wait",
    "average_handle",
)


def as_row(f: QueueFigures) -> dict[str, str | int | float | None]:
    return {
        "period_start": f.period_start.isoformat(),
        "queue": f.queue,
        "offered": f.offered,
        "answered": f.answered,
        "abandoned": f.abandoned,
        "short_abandoned": f.short_abandoned,
        "overflowed": f.overflowed,
        "service_level": f.service_level,
        "threshold": f.threshold,
        "average_wait": f.average_wait,
        "p90_wait": f.p90_wait,
        "average_handle": f.average_handle,
    }


def to_csv(rows: Iterable[QueueFigures]) -> str:
    """The report as CSV (a header line, then one line per period and queue; empty cells
    for figures that have no value)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for f in rows:
        writer.writerow({k: "" if v is None else v for k, v in as_row(f).items()})
    return out.getvalue()
