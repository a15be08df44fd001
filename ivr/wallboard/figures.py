"""The wallboard's figures, from what Postgres and the queue engine hold. Pure: no I/O.

Definitions (per queue; the tenant's totals add its queues up)::

    offered          queue stays that entered the queue today (midnight in the tenant's zone)
    answered         ... that an agent answered; abandoned: the caller hung up while waiting
    abandoned_short  abandons under 5 s (SHORT_ABANDON): not counted in the service level
    overflowed       refused on entry (no agent logged in, queue full); timeouts: max_wait
    callbacks        left the queue for a callback (pressed the key)
    service_level    % answered within the queue's threshold, of the stays that left the queue
                     (any exit) less the short abandons and the callback choices; None if none
    asa              average speed of answer: the mean wait of the answered stays (seconds)

Agents are shown by state: available, ringing, talking, wrap_up, paused (with the reason),
logged_out, each with the time it entered the state (``since``); waiting callers with the
time they entered the queue. Times are ISO 8601 strings, so the page counts them up itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from storage.repositories.wallboard import CallbackCounts, QueueDay

SHORT_ABANDON = 5.0
STATES = ("available", "ringing", "talking", "wrap_up", "paused", "logged_out")
# The agent board's state names -> the wallboard's.
_STATE_NAMES = {"busy": "talking"}


def day_start(now: datetime, zone: str) -> datetime:
    """Midnight of ``now``'s date in ``zone`` (an IANA name), as an aware datetime."""
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    return datetime.combine(local.date(), time(0), tzinfo=tz)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return None


@dataclass(frozen=True)
class Waiting:
    """A caller waiting in a queue now (from the queue engine)."""

    entry_id: str
    since: datetime
    ringing: bool


@dataclass(frozen=True)
class QueueInput:
    name: str
    threshold: float
    agents: tuple[str, ...]
    day: QueueDay
    callbacks: CallbackCounts
    waiting: tuple[Waiting, ...] = ()


@dataclass(frozen=True)
class BoardInput:
    tenant: str
    name: str
    language: str
    time_zone: str
    day_start: datetime
    queues: tuple[QueueInput, ...]
    agents: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # Agent.to_dict


def agent_view(record: Mapping[str, Any] | None) -> dict[str, Any]:
    """One agent's state for the wallboard (no record: logged out, since unknown)."""
    if record is None:
        return {"state": "logged_out", "since": None, "reason": None, "queue": None, "call": None}
    state = str(record.get("state") or "logged_out")
    queue = record.get("queue")
    talking = state in ("ringing", "busy")
    return {
        "state": _STATE_NAMES.get(state, state),
        "since": _iso(_time(record.get("since"))),
        "reason": record.get("pause_reason") if state == "paused" else None,
        # the engine names queues "<tenant>/<queue>": the wallboard is per tenant
        "queue": str(queue).partition("/")[2] or str(queue) if talking and queue else None,
        "call": record.get("entry_id") if talking else None,
    }


def _sl(in_threshold: int, base: int) -> float | None:
    return None if base <= 0 else round(100.0 * in_threshold / base, 1)


def _sl_base(day: QueueDay) -> int:
    return day.closed - day.abandoned_short - day.callbacks


def today(days: Sequence[QueueDay]) -> dict[str, Any]:
    """The day's figures of one queue (or several added up)."""
    total = {
        k: sum(getattr(d, k) for d in days)
        for k in (
            "offered",
            "answered",
            "answered_in_threshold",
            "abandoned",
            "abandoned_short",
            "overflowed",
            "timeouts",
            "callbacks",
        )
    }
    answered_wait = sum(d.answered_wait for d in days)
    base = sum(_sl_base(d) for d in days)
    return {
        **total,
        "service_level": _sl(total["answered_in_threshold"], base),
        "asa": None if not total["answered"] else round(answered_wait / total["answered"], 1),
    }


def _by_state(agents: Iterable[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(STATES, 0)
    for a in agents:
        counts[a["state"]] = counts.get(a["state"], 0) + 1
    return counts


def _longest(waiting: Iterable[Waiting]) -> str | None:
    return _iso(min((w.since for w in waiting), default=None))


def board(data: BoardInput) -> dict[str, Any]:
    """The wallboard document of one tenant (without ``now`` and ``seq``: the stream adds
    them)."""
    agents = {a: agent_view(data.agents.get(a)) for q in data.queues for a in sorted(set(q.agents))}
    queues: dict[str, Any] = {}
    for q in data.queues:
        queues[q.name] = {
            "threshold": q.threshold,
            "agents": sorted(set(q.agents)),
            "by_state": _by_state(agents[a] for a in set(q.agents)),
            "waiting": [
                {"id": w.entry_id, "since": _iso(w.since), "ringing": w.ringing} for w in q.waiting
            ],
            "longest_since": _longest(q.waiting),
            "today": today([q.day]),
            "callbacks": {"pending": q.callbacks.pending, "due": q.callbacks.due},
        }
    every = [w for q in data.queues for w in q.waiting]
    return {
        "tenant": data.tenant,
        "name": data.name,
        "language": data.language,
        "time_zone": data.time_zone,
        "day_start": _iso(data.day_start),
        "queues": queues,
        "agents": agents,
        "totals": {
            "waiting": len(every),
            "longest_since": _longest(every),
            "by_state": _by_state(agents.values()),
            "today": today([q.day for q in data.queues]),
            "callbacks": {
                "pending": sum(q.callbacks.pending for q in data.queues),
                "due": sum(q.callbacks.due for q in data.queues),
            },
        },
    }


def waited(since: str | None, now: datetime) -> float:
    """Seconds since an ISO time of the board (0 for None): what the page shows."""
    moment = _time(since)
    return 0.0 if moment is None else max(0.0, (now - moment) / timedelta(seconds=1))
