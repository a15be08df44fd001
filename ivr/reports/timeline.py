"""A case's timeline, from what is stored (pure): entered, each queue stay (queued, left with
its exit and wait), answered (with the delay before service), ended (outcome, total time).

The delays are the stored ones (README, *Cases*): a stay's wait runs from entering the queue
to leaving it; ``delay_before_service`` from the case's start to the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.domain import CaseView


@dataclass(frozen=True, slots=True)
class Step:
    at: datetime
    kind: str  # entered | queued | left | answered | ended
    queue: str | None = None
    detail: str | None = None  # the exit (left) or the outcome (ended)
    took: timedelta | None = None  # left: the stay's wait; answered: delay; ended: total


def timeline(case: CaseView) -> list[Step]:
    """The case's steps in time order (a step at the same moment keeps its natural order)."""
    steps = [Step(case.started_at, "entered")]
    for q in case.queue_entries:
        steps.append(Step(q.entered_at, "queued", q.queue))
        if q.left_at is not None:
            steps.append(Step(q.left_at, "left", q.queue, q.exit_reason, q.wait))
    if case.service_started_at is not None:
        steps.append(Step(case.service_started_at, "answered", took=case.delay_before_service))
    if case.ended_at is not None:
        outcome = None if case.outcome is None else case.outcome.value
        steps.append(Step(case.ended_at, "ended", detail=outcome, took=case.total_time))
    order = {"entered": 0, "queued": 1, "left": 2, "answered": 3, "ended": 4}
    return sorted(steps, key=lambda s: (s.at, order[s.kind]))
