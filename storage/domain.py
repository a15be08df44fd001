"""What repositories return: plain frozen dataclasses, no ORM objects, no SQLAlchemy import.

Secrets never leave the storage layer: a :class:`UserInfo` has no password or PIN hash.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from storage.events import Channel, ContactStatus, DeletionReason, ListenKind, Outcome, Role


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something, for the audit log: a user, or a named system component."""

    label: str
    user_id: uuid.UUID | None = None

    @classmethod
    def system(cls, component: str = "system") -> Actor:
        return cls(label=component)

    @classmethod
    def user(cls, user: UserInfo) -> Actor:
        return cls(label=f"user:{user.login}", user_id=user.id)


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list in key order; ``after`` is the key to ask the next page with
    (None: this was the last page)."""

    items: list[T]
    after: str | None


@dataclass(frozen=True, slots=True)
class TenantInfo:
    id: uuid.UUID
    slug: str
    name: str
    language: str
    recording_retention: timedelta
    voicemail_retention: timedelta
    case_retention: timedelta
    time_zone: str = "Europe/Helsinki"
    transcripts_enabled: bool = False
    transcript_retention: timedelta = timedelta(days=365)


@dataclass(frozen=True, slots=True)
class ServiceNumberInfo:
    id: uuid.UUID
    tenant_id: uuid.UUID
    number: str
    service: str
    description: str


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: uuid.UUID
    tenant_id: uuid.UUID | None
    name: str
    login: str
    email: str | None
    role: Role
    phone_number: str | None
    phone_login: str | None
    has_phone_pin: bool
    created_at: datetime
    disabled_at: datetime | None

    @property
    def active(self) -> bool:
        return self.disabled_at is None


@dataclass(frozen=True, slots=True)
class QueueEntryView:
    seq: int
    queue: str
    entered_at: datetime
    left_at: datetime | None
    exit_reason: str | None
    wait: timedelta | None


@dataclass(frozen=True, slots=True)
class CaseStepView:
    """A ``case_events`` row: a menu attempt (``menu``, ``choice``, ``option``) or an agent
    rung (``queue``, ``agent_login``, until ``ended_at``), with how it ended (``result``)."""

    kind: str
    seq: int
    at: datetime
    result: str
    ended_at: datetime | None = None
    menu: str | None = None
    choice: str | None = None
    option: str | None = None
    queue: str | None = None
    agent_login: str | None = None
    agent_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class CaseView:
    id: uuid.UUID
    tenant_id: uuid.UUID
    service_number: str | None
    channel: Channel
    caller_name: str | None
    caller_email: str | None
    caller_number: str | None
    started_at: datetime
    service_started_at: datetime | None
    agent_id: uuid.UUID | None
    ended_at: datetime | None
    outcome: Outcome | None
    delay_before_service: timedelta | None
    queue_wait: timedelta | None
    service_time: timedelta | None
    total_time: timedelta | None
    restricted_at: datetime | None
    personal_data_erased_at: datetime | None
    queue_entries: tuple[QueueEntryView, ...] = ()
    steps: tuple[CaseStepView, ...] = ()  # menu attempts and agent offers, in time order


@dataclass(frozen=True, slots=True)
class ContactRequestView:
    id: uuid.UUID
    tenant_id: uuid.UUID
    case_id: uuid.UUID
    channel: Channel
    queue: str | None
    requested_at: datetime
    callback_number: str | None
    name: str | None
    email: str | None
    message: str | None
    status: ContactStatus
    claimed_by: uuid.UUID | None
    claimed_at: datetime | None
    attempts: int
    last_agent_id: uuid.UUID | None
    last_handled_at: datetime | None
    closed_at: datetime | None
    # Under a processing restriction (GDPR art. 18): stored only; never claimed or dialled.
    restricted: bool = False


@dataclass(frozen=True, slots=True)
class AudioView:
    """A recording or a voice message (``kind``) and where its audio is."""

    kind: str
    id: uuid.UUID
    tenant_id: uuid.UUID
    case_id: uuid.UUID
    name: str
    location: str
    completed_at: datetime
    duration: timedelta
    size_bytes: int
    sha256: str
    deleted_at: datetime | None
    deletion_reason: DeletionReason | None
    status: str = "completed"  # or "failed" (then failure_reason says why)
    failure_reason: str | None = None
    legal_hold: bool = False
    being_deleted: bool = False  # the sweeper or an erasure is deleting it right now


@dataclass(frozen=True, slots=True)
class ListeningEventView:
    id: uuid.UUID
    at: datetime
    event_type: ListenKind
    tenant_id: uuid.UUID
    case_id: uuid.UUID
    link: str
    recording_id: uuid.UUID | None
    voice_message_id: uuid.UUID | None
    user_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class StaffGroupView:
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    description: str


@dataclass(frozen=True, slots=True)
class StaffMemberView:
    id: uuid.UUID
    group_id: uuid.UUID
    name: str
    phone_number: str
    kind: str
    user_id: uuid.UUID | None
    other_numbers: tuple[str, ...] = ()  # after phone_number, in order of preference
    position: int = 0  # the calling order in the group
    has_pin: bool = False
    available: bool = True

    @property
    def numbers(self) -> tuple[str, ...]:
        return (self.phone_number, *self.other_numbers)


@dataclass(frozen=True, slots=True)
class AuditEntryView:
    id: int
    at: datetime
    tenant_id: uuid.UUID | None
    actor_user_id: uuid.UUID | None
    actor: str
    action: str
    target_type: str | None
    target_id: str | None
    details: dict[str, Any]
    prev_hash: str
    row_hash: str


@dataclass(frozen=True, slots=True)
class ErasureView:
    id: uuid.UUID
    tenant_id: uuid.UUID
    performed_at: datetime
    performed_by: uuid.UUID | None
    actor: str
    basis: str
    request_ref: str | None
    counts: dict[str, int]
    case_ids: tuple[uuid.UUID, ...]


@dataclass(frozen=True, slots=True)
class ErasureResult:
    """The ledger entry, and the audio whose files the caller must now delete (then mark
    them deleted with reason ``erasure``)."""

    ledger: ErasureView
    recordings: tuple[AudioView, ...] = field(default=())
    voice_messages: tuple[AudioView, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class WebSessionInfo:
    """A live browser session (the cookie's token itself is never kept, only its hash)."""

    id: uuid.UUID
    user: UserInfo
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ApiTokenInfo:
    """A personal API token's metadata (never the token: only its hash is stored)."""

    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
