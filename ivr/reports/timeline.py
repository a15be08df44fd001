"""A case's timeline, from what is stored (pure): entered, each menu attempt (the option
chosen, or invalid / no input), each queue stay (queued, left with its exit and wait), each
agent rung for the caller (offer: who, how it ended, how long it rang), answered (with the
delay before service), ended (outcome, total time).

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
    kind: str  # entered | menu | queued | offer | left | answered | ended
    queue: str | None = None
    # the exit (left), the outcome (ended), the menu attempt's or the offer's result
    detail: str | None = None
    # left: the stay's wait; answered: delay; ended: total; offer: how long it rang
    took: timedelta | None = None
    menu: str | None = None  # menu: the menu, the key chosen and its option (target)
    choice: str | None = None
    option: str | None = None
    agent: str | None = None  # offer: the agent's login


ORDER = {"entered": 0, "menu": 1, "queued": 2, "offer": 3, "left": 4, "answered": 5, "ended": 6}


def timeline(case: CaseView) -> list[Step]:
    """The case's steps in time order (a step at the same moment keeps its natural order)."""
    steps = [Step(case.started_at, "entered")]
    for e in case.steps:
        if e.kind == "menu":
            steps.append(
                Step(e.at, "menu", detail=e.result, menu=e.menu, choice=e.choice, option=e.option)
            )
        elif e.kind == "offer":
            took = None if e.ended_at is None else e.ended_at - e.at
            steps.append(
                Step(e.at, "offer", e.queue, detail=e.result, took=took, agent=e.agent_login)
            )
    for q in case.queue_entries:
        steps.append(Step(q.entered_at, "queued", q.queue))
        if q.left_at is not None:
            steps.append(Step(q.left_at, "left", q.queue, q.exit_reason, q.wait))
    if case.service_started_at is not None:
        steps.append(Step(case.service_started_at, "answered", took=case.delay_before_service))
    if case.ended_at is not None:
        outcome = None if case.outcome is None else case.outcome.value
        steps.append(Step(case.ended_at, "ended", detail=outcome, took=case.total_time))
    return sorted(steps, key=lambda s: (s.at, ORDER[s.kind]))
