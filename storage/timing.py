"""Case timing: fold case events into a case's state and derive its durations. No I/O.

Definitions (all ``None`` while unknown or not applicable):

- **delay before service** = first service start - case start (never served: ``None``)
- **queue wait** = sum of the case's queue stays, each from entering the queue until it
  was served or left it (``QueueLeft``: hung up, refused on entry, max_wait, callback...),
  or else until the case ended
- **service time** = case end - first service start (the total time being served)
- **total time** = case end - case start

Time never runs backwards inside a case: an event stamped earlier than one already applied
is taken to happen at the later time, so durations are never negative.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import assert_never

from storage.events import (
    AgentOffered,
    CallerDetails,
    CaseEnded,
    CaseEvent,
    CaseOpened,
    CaseQueued,
    Channel,
    ContactRequested,
    MenuChosen,
    Outcome,
    QueueExit,
    QueueLeft,
    RecordingCompleted,
    ServiceStarted,
    VoiceMessageSaved,
)

_EXIT_FOR_OUTCOME = {
    Outcome.ANSWERED: QueueExit.SERVED,
    Outcome.HANDLED: QueueExit.SERVED,
    Outcome.CALLBACK_REQUESTED: QueueExit.CALLBACK,
    Outcome.VOICEMAIL: QueueExit.VOICEMAIL,
    Outcome.TRANSFERRED: QueueExit.TRANSFERRED,
    Outcome.CLOSED: QueueExit.CLOSED,
    Outcome.FAILED: QueueExit.FAILED,
    Outcome.OVERFLOWED: QueueExit.OVERFLOWED,
    Outcome.NODE_LOST: QueueExit.NODE_LOST,
}


class EventIgnored(ValueError):
    """The event cannot be applied to the case; the state is unchanged."""

    def __init__(self, case_id: uuid.UUID, why: str) -> None:
        super().__init__(f"case {case_id}: {why}")
        self.case_id = case_id


class UnknownCase(EventIgnored):
    def __init__(self, case_id: uuid.UUID, event: CaseEvent) -> None:
        super().__init__(case_id, f"{type(event).__name__} for a case never opened here")


class CaseAlreadyEnded(EventIgnored):
    def __init__(self, case_id: uuid.UUID, event: CaseEvent) -> None:
        super().__init__(case_id, f"{type(event).__name__} after the case ended")


@dataclass(frozen=True, slots=True)
class QueueStay:
    seq: int
    queue: str
    entered_at: datetime
    left_at: datetime | None = None
    exit: QueueExit | None = None

    @property
    def wait(self) -> timedelta | None:
        return None if self.left_at is None else self.left_at - self.entered_at


@dataclass(frozen=True, slots=True)
class CaseState:
    case_id: uuid.UUID
    tenant_id: uuid.UUID
    channel: Channel
    started_at: datetime
    last_at: datetime
    service_number: str | None = None
    caller_number: str | None = None
    caller_name: str | None = None
    caller_email: str | None = None
    service_started_at: datetime | None = None
    agent_id: uuid.UUID | None = None
    ended_at: datetime | None = None
    outcome: Outcome | None = None
    queue_stays: tuple[QueueStay, ...] = ()
    contact_requests: tuple[ContactRequested, ...] = ()
    recordings: tuple[RecordingCompleted, ...] = ()
    voice_messages: tuple[VoiceMessageSaved, ...] = ()
    # Timeline steps (``case_events``): each menu attempt, each agent rung, in emit order.
    menu_choices: tuple[MenuChosen, ...] = ()
    offers: tuple[AgentOffered, ...] = ()

    # ----- derived ---------------------------------------------------------------------------
    @property
    def delay_before_service(self) -> timedelta | None:
        if self.service_started_at is None:
            return None
        return self.service_started_at - self.started_at

    @property
    def queue_wait(self) -> timedelta | None:
        waits = [s.wait for s in self.queue_stays if s.wait is not None]
        return sum(waits, timedelta()) if waits else None

    @property
    def service_time(self) -> timedelta | None:
        if self.service_started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.service_started_at

    @property
    def total_time(self) -> timedelta | None:
        return None if self.ended_at is None else self.ended_at - self.started_at

    @property
    def ended(self) -> bool:
        return self.ended_at is not None


def open_case(event: CaseOpened) -> CaseState:
    return CaseState(
        case_id=event.case_id,
        tenant_id=event.tenant_id,
        channel=event.channel,
        started_at=event.at,
        last_at=event.at,
        service_number=event.service_number,
        caller_number=event.caller_number,
        caller_name=event.caller_name,
        caller_email=event.caller_email,
    )


def _close_stay(state: CaseState, at: datetime, exit_: QueueExit) -> tuple[QueueStay, ...]:
    stays = state.queue_stays
    if stays and stays[-1].left_at is None:
        return (*stays[:-1], replace(stays[-1], left_at=at, exit=exit_))
    return stays


class NaiveTime(EventIgnored):
    def __init__(self, case_id: uuid.UUID, event: CaseEvent) -> None:
        super().__init__(case_id, f"{type(event).__name__} has a time without a time zone")


def _naive(event: CaseEvent) -> bool:
    for name in ("at", "completed_at", "ended_at"):
        value = getattr(event, name, None)
        if isinstance(value, datetime) and value.utcoffset() is None:
            return True
    return False


def apply(state: CaseState | None, event: CaseEvent) -> CaseState:
    """The case state after ``event``. Raises :class:`EventIgnored` (state unchanged) for an
    event that makes no sense: anything but CaseOpened for an unknown case, a queue or
    service event after the case ended, or a time without a time zone."""
    if _naive(event):
        raise NaiveTime(event.case_id, event)
    if state is None:
        if isinstance(event, CaseOpened):
            return open_case(event)
        raise UnknownCase(event.case_id, event)

    if isinstance(event, CaseOpened):
        # Opened again (e.g. re-emitted after a controller restart): keep the first start,
        # fill in caller details not known yet.
        return replace(
            state,
            service_number=state.service_number or event.service_number,
            caller_number=state.caller_number or event.caller_number,
            caller_name=state.caller_name or event.caller_name,
            caller_email=state.caller_email or event.caller_email,
        )
    if isinstance(event, CallerDetails):
        return replace(
            state,
            caller_number=event.caller_number or state.caller_number,
            caller_name=event.caller_name or state.caller_name,
            caller_email=event.caller_email or state.caller_email,
        )
    if isinstance(event, ContactRequested):
        if any(r.request_id == event.request_id for r in state.contact_requests):
            return state
        return replace(state, contact_requests=(*state.contact_requests, event))
    if isinstance(event, RecordingCompleted):
        if any(r.recording_id == event.recording_id for r in state.recordings):
            return state
        return replace(state, recordings=(*state.recordings, event))
    if isinstance(event, VoiceMessageSaved):
        if any(v.voice_message_id == event.voice_message_id for v in state.voice_messages):
            return state
        return replace(state, voice_messages=(*state.voice_messages, event))

    # Timeline steps: kept as they came (their own times), not after the end.
    if isinstance(event, MenuChosen | AgentOffered):
        if state.ended:
            raise CaseAlreadyEnded(state.case_id, event)
        if isinstance(event, MenuChosen):
            return replace(state, menu_choices=(*state.menu_choices, event))
        return replace(state, offers=(*state.offers, event))

    # Timing events: not after the end, never backwards in time.
    if state.ended:
        raise CaseAlreadyEnded(state.case_id, event)
    at = max(event.at, state.last_at)
    if isinstance(event, CaseQueued):
        stays = _close_stay(state, at, QueueExit.TRANSFERRED)
        stay = QueueStay(seq=len(stays), queue=event.queue, entered_at=at)
        return replace(state, queue_stays=(*stays, stay), last_at=at)
    if isinstance(event, QueueLeft):
        return replace(state, queue_stays=_close_stay(state, at, event.reason), last_at=at)
    if isinstance(event, ServiceStarted):
        return replace(
            state,
            queue_stays=_close_stay(state, at, QueueExit.SERVED),
            service_started_at=state.service_started_at or at,
            agent_id=event.agent_id or state.agent_id,
            last_at=at,
        )
    if isinstance(event, CaseEnded):
        exit_ = _EXIT_FOR_OUTCOME.get(event.outcome, QueueExit.ABANDONED)
        return replace(
            state,
            queue_stays=_close_stay(state, at, exit_),
            ended_at=at,
            outcome=event.outcome,
            last_at=at,
        )
    assert_never(event)
