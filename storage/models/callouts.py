"""Staff call-outs (issue 16): one row per call-out, one per member called in it (with the
member's lease), one per dial attempt, written as they happen."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, created_at, uuid_pk

CALLOUT_STATUSES = ("running", "confirmed", "exhausted", "expired", "cancelled")
MEMBER_STATES = ("pending", "confirmed", "declined", "failed")
ATTEMPT_OUTCOMES = (
    "confirmed",
    "declined",
    "busy",
    "no_answer",
    "failed",
    "no_key",
    "wrong_pin",
    "machine",
    "interrupted",
    "ended",
    "answered",  # answered, then its controller died before a key (migration 0016)
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class Callout(Base):
    __tablename__ = "callouts"
    __table_args__ = (
        CheckConstraint(_in("status", CALLOUT_STATUSES), name="status_known"),
        CheckConstraint("needed >= 1", name="needed_positive"),
        CheckConstraint("wait_seconds > 0", name="wait_positive"),
        CheckConstraint(
            "length(btrim(message)) > 0 OR audio_sha256 IS NOT NULL", name="message_present"
        ),
        Index("ix_callouts_status", "status"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"))
    group_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_groups.id", ondelete="SET NULL")
    )
    escalate_group_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_groups.id", ondelete="SET NULL")
    )
    message: Mapped[str] = mapped_column(Text)  # spoken with TTS, unless audio is given
    audio: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)  # 8 kHz wav
    audio_sha256: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    needed: Mapped[int] = mapped_column(Integer)
    wait_seconds: Mapped[int] = mapped_column(Integer)
    window_seconds: Mapped[int] = mapped_column(Integer)
    max_attempts: Mapped[int] = mapped_column(Integer)
    retry_delay: Mapped[int] = mapped_column(Integer)
    ring_seconds: Mapped[int] = mapped_column(Integer)
    max_parallel: Mapped[int] = mapped_column(Integer)
    pin_required: Mapped[bool] = mapped_column(Boolean, server_default="false")
    status: Mapped[str] = mapped_column(String(16), server_default="running")
    started_at: Mapped[datetime] = created_at()
    escalated_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(100))


class CalloutMember(Base):
    """A member in one call-out: their state and the lease of the controller calling them."""

    __tablename__ = "callout_members"
    __table_args__ = (
        UniqueConstraint("callout_id", "member_id"),
        CheckConstraint(_in("state", MEMBER_STATES), name="state_known"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    callout_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("callouts.id", ondelete="CASCADE"), index=True
    )
    member_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_group_members.id", ondelete="SET NULL")
    )
    position: Mapped[int] = mapped_column(Integer)
    escalation: Mapped[bool] = mapped_column(Boolean, server_default="false")
    state: Mapped[str] = mapped_column(String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_at: Mapped[datetime | None] = mapped_column()
    dialing_by: Mapped[str | None] = mapped_column(String(100))
    dialing_since: Mapped[datetime | None] = mapped_column()
    decided_at: Mapped[datetime | None] = mapped_column()


class CalloutAttempt(Base):
    __tablename__ = "callout_attempts"
    __table_args__ = (
        UniqueConstraint("callout_member_id", "attempt_no"),
        CheckConstraint(
            "outcome IS NULL OR " + _in("outcome", ATTEMPT_OUTCOMES), name="outcome_known"
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    callout_member_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("callout_members.id", ondelete="CASCADE"), index=True
    )
    attempt_no: Mapped[int] = mapped_column(Integer)
    number: Mapped[str | None] = mapped_column(String(21))  # blanked by an erasure
    channel_id: Mapped[str] = mapped_column(String(100))
    controller: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column()
    answered_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    key: Mapped[str | None] = mapped_column(String(8))
    outcome: Mapped[str | None] = mapped_column(String(16))
