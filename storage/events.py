"""Case events the controller emits, and the vocabularies shared with the database.

Pure data (no I/O, no SQLAlchemy): call flows import this module and hand events to an
:class:`EventSink` (the :class:`storage.recorder.CaseRecorder` in production, a list in tests).

A case's life, as events::

    CaseOpened ─┬─> CaseQueued ─┬─> ServiceStarted ──> CaseEnded(answered)
                │               ├─> QueueLeft(callback) ─> ContactRequested ─> CaseEnded(...)
                │               ├─> QueueLeft(overflowed | timeout) ─> (overflow target) ...
                │               └─> QueueLeft(abandoned) ─> CaseEnded(abandoned)
                │                                                 (hung up while queued)
                ├─> CallerDetails / RecordingCompleted / VoiceMessageSaved   (any time, also
                │                                                  shortly after CaseEnded)
                ├─> MenuChosen (each menu attempt) / AgentOffered (each agent rung)
                └─> CaseEnded(...)

Every event carries ``case_id``; times are timezone-aware.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol


class Channel(StrEnum):
    PHONE = "phone"
    SMS = "sms"
    EMAIL = "email"
    CHAT = "chat"
    WEB = "web"


class Outcome(StrEnum):
    ANSWERED = "answered"  # served by an agent (or an automated service) on a call
    HANDLED = "handled"  # a written contact (sms/e-mail/chat/web) was dealt with
    ABANDONED = "abandoned"  # the caller left before being served
    OVERFLOWED = "overflowed"  # a queue was full / had no agents / the wait ran out
    CALLBACK_REQUESTED = "callback_requested"
    VOICEMAIL = "voicemail"
    TRANSFERRED = "transferred"  # sent outside Linja (another number)
    CLOSED = "closed"  # out of hours / service closed
    FAILED = "failed"  # a technical failure ended the case
    # The controller (or the whole node) holding the call was lost; written by another
    # controller once the holder's heartbeat stopped (migration 0021).
    NODE_LOST = "node_lost"


class QueueExit(StrEnum):
    """Why a queue stay ended (its wait runs from entering the queue to that moment)."""

    SERVED = "served"  # an agent answered
    ABANDONED = "abandoned"  # the caller hung up while waiting
    CALLBACK = "callback"  # the caller pressed the callback key (keeps their place)
    VOICEMAIL = "voicemail"
    TIMEOUT = "timeout"  # waited the queue's max_wait: sent to its timeout target
    OVERFLOWED = "overflowed"  # refused on entry: no agent logged in, or the queue was full
    TRANSFERRED = "transferred"
    CLOSED = "closed"
    FAILED = "failed"
    NODE_LOST = "node_lost"  # the controller holding the caller was lost (migration 0021)


class MenuResult(StrEnum):
    """How one menu attempt ended (``case_events.result`` of a ``menu`` step)."""

    CHOSEN = "chosen"  # a key of one of the menu's options
    INVALID = "invalid"  # a key that is no option (the key itself is never kept)
    NO_INPUT = "no_input"  # nothing pressed in time


class OfferResult(StrEnum):
    """How ringing one agent for a queued caller ended (``case_events.result``)."""

    ANSWERED = "answered"
    DECLINED = "declined"  # the agent's phone refused or hung up before the ring timeout
    TIMEOUT = "timeout"  # rang out (the queue's ring_timeout)
    UNREACHABLE = "unreachable"  # could not be rung (e.g. the phone is not registered)
    MISSED = "missed"  # ring-all: another agent answered first
    CALLER_LEFT = "caller_left"  # the caller hung up while it rang


class CaseStepKind(StrEnum):
    """The kinds of ``case_events`` rows: the steps of a case's timeline that are neither
    the case itself nor a queue stay."""

    MENU = "menu"
    OFFER = "offer"


class Role(StrEnum):
    """``operator``: the platform's own staff, above tenants (no tenant); the others belong
    to one tenant: ``admin`` runs it, ``team`` works in it, ``external`` sees only what is
    shared with them."""

    OPERATOR = "operator"
    ADMIN = "admin"
    TEAM = "team"
    EXTERNAL = "external"

    @property
    def is_admin(self) -> bool:
        """An admin of a tenant, or an operator (who administers every tenant)."""
        return self in (Role.ADMIN, Role.OPERATOR)


class ListenKind(StrEnum):
    PLAY = "play"
    DOWNLOAD = "download"
    EXPORT = "export"
    TRANSCRIPT = "transcript"  # a transcript was read (issue 18)


class ContactStatus(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    DONE = "done"
    CANCELLED = "cancelled"


class CallbackResult(StrEnum):
    """How one dial attempt of a callback request ended (``callback_attempts.result``)."""

    ANSWERED = "answered"  # the customer answered and was bridged to the agent
    NO_ANSWER = "no_answer"  # the customer's phone rang out
    BUSY = "busy"  # the customer was busy (SIP 486 / 600)
    FAILED = "failed"  # the call could not be placed or was rejected
    AGENT_NO_ANSWER = "agent_no_answer"  # no agent picked up: not counted against the customer
    INTERRUPTED = "interrupted"  # its controller died mid-dial; another took the request over


class CallbackOutcome(StrEnum):
    """How a callback request ended (``contact_requests.outcome``)."""

    ANSWERED = "answered"  # called back and reached
    GAVE_UP = "gave_up"  # max attempts used without reaching the customer
    CANCELLED = "cancelled"  # withdrawn (by an agent or the system)
    RESTRICTED = "restricted"  # the data subject restricted processing: never dialled


class AudioStatus(StrEnum):
    """What became of a recording or voice message: kept whole, or failed (with a reason)."""

    COMPLETED = "completed"
    FAILED = "failed"


class DeletionReason(StrEnum):
    RETENTION = "retention"
    ERASURE = "erasure"
    MANUAL = "manual"


def sql_in(column: str, values: type[StrEnum]) -> str:
    """``column IN ('a', 'b')`` for a CHECK constraint built from an enum."""
    return f"{column} IN (" + ", ".join(f"'{v.value}'" for v in values) + ")"


# ----- events -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseOpened:
    case_id: uuid.UUID
    tenant_id: uuid.UUID
    channel: Channel
    at: datetime
    service_number: str | None = None
    caller_number: str | None = None
    caller_name: str | None = None
    caller_email: str | None = None


@dataclass(frozen=True, slots=True)
class CallerDetails:
    """The caller told us more about themselves (only the given fields change)."""

    case_id: uuid.UUID
    caller_number: str | None = None
    caller_name: str | None = None
    caller_email: str | None = None


@dataclass(frozen=True, slots=True)
class CaseQueued:
    case_id: uuid.UUID
    queue: str
    at: datetime


@dataclass(frozen=True, slots=True)
class QueueLeft:
    """The caller left the queue without being served, at ``at`` (the exit moment, not after
    a prompt that follows it): hung up (abandoned), refused on entry (overflowed), waited
    max_wait (timeout) or chose a callback. A stay still open when the case ends is closed
    by CaseEnded."""

    case_id: uuid.UUID
    at: datetime
    reason: QueueExit


@dataclass(frozen=True, slots=True)
class ServiceStarted:
    """An agent (or, with ``agent_id=None``, an automated service) started serving."""

    case_id: uuid.UUID
    at: datetime
    agent_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class CaseEnded:
    case_id: uuid.UUID
    outcome: Outcome
    at: datetime


@dataclass(frozen=True, slots=True)
class ContactRequested:
    """A callback / contact request left during the case (lands in the callback queue)."""

    case_id: uuid.UUID
    request_id: uuid.UUID
    at: datetime
    callback_number: str | None = None
    name: str | None = None
    email: str | None = None
    message: str | None = None
    queue: str | None = None
    # A callback that keeps the caller's place: when the caller joined the queue. The dialer
    # offers the request at this virtual arrival time, among the live callers.
    queue_entered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RecordingPause:
    """A pause in a recording, as offsets from the recording's start on the wall clock (the
    paused audio is cut from the file, so the file is shorter by the pauses)."""

    start: timedelta
    end: timedelta


@dataclass(frozen=True, slots=True)
class RecordingCompleted:
    """A recording ended: ``status`` completed, or failed with ``failure_reason`` (the row
    is written either way; a failed one keeps whatever audio there was, maybe none)."""

    case_id: uuid.UUID
    recording_id: uuid.UUID
    name: str
    location: str
    completed_at: datetime
    duration: timedelta
    size_bytes: int
    sha256: str
    status: AudioStatus = AudioStatus.COMPLETED
    failure_reason: str | None = None
    pauses: tuple[RecordingPause, ...] = ()
    started_at: datetime | None = None
    notice_played_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class VoiceMessageSaved:
    """A voice message ended: completed, or failed with ``failure_reason``; ``box`` is the
    voicemail box it was left in (the ``voicemail:<box>`` target)."""

    case_id: uuid.UUID
    voice_message_id: uuid.UUID
    name: str
    location: str
    completed_at: datetime
    duration: timedelta
    size_bytes: int
    sha256: str
    status: AudioStatus = AudioStatus.COMPLETED
    failure_reason: str | None = None
    box: str | None = None


@dataclass(frozen=True, slots=True)
class MenuChosen:
    """One menu attempt: the option chosen, or invalid / no input. ``key`` is the option's
    key as the flow file defines it, and only for a chosen option: whatever else the caller
    keyed in is never kept. ``option`` is the option's target (``queue:sales``)."""

    case_id: uuid.UUID
    at: datetime
    menu: str
    result: MenuResult
    key: str | None = None
    option: str | None = None


@dataclass(frozen=True, slots=True)
class AgentOffered:
    """One agent was rung for the queued caller from ``at`` to ``ended_at``, with
    ``result``; ``agent`` is the login, ``agent_id`` its user (None: no user row)."""

    case_id: uuid.UUID
    at: datetime
    queue: str
    agent: str
    ended_at: datetime
    result: OfferResult
    agent_id: uuid.UUID | None = None


CaseEvent = (
    CaseOpened
    | CallerDetails
    | CaseQueued
    | QueueLeft
    | ServiceStarted
    | CaseEnded
    | ContactRequested
    | RecordingCompleted
    | VoiceMessageSaved
    | MenuChosen
    | AgentOffered
)


class EventSink(Protocol):
    """What a call flow needs: hand over an event, synchronously, without ever blocking or
    raising because of the database."""

    def emit(self, event: CaseEvent) -> None: ...


class DurableSink(EventSink, Protocol):
    """An event sink that can also say when a case's events are kept (in the database or
    the fsync'd spool): for what the caller is told has been taken (a callback request)."""

    async def durable(self, case_id: uuid.UUID) -> bool: ...
