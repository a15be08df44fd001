"""Recordings, voice messages and the log of every access to their audio.

Audio files are deleted by the sweeper; their rows stay with ``deleted_at`` and
``deletion_reason``. Listening events are append-only (a trigger refuses UPDATE, DELETE and
TRUNCATE, and the application role may only SELECT and INSERT).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Interval, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from storage.events import AudioStatus, DeletionReason, ListenKind, sql_in
from storage.models.base import Base, created_at, uuid_pk

SWEEPABLE = "deleted_at IS NULL AND deleting_since IS NULL AND NOT legal_hold"


class _Audio:
    """Columns shared by recordings and voice messages."""

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200))
    # Where the audio lives: a path inside the Asterisk root or an object-store URL.
    location: Mapped[str] = mapped_column(String(1000), unique=True)
    completed_at: Mapped[datetime]
    duration: Mapped[timedelta] = mapped_column(Interval)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    deleted_at: Mapped[datetime | None]
    deletion_reason: Mapped[str | None] = mapped_column(String(16))
    # completed, or failed with a reason (a failed row keeps what audio there was, maybe none).
    status: Mapped[str] = mapped_column(String(16), server_default=text("'completed'"))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    # Legal hold (issue 7): the sweeper and erasure never delete a held file.
    legal_hold: Mapped[bool] = mapped_column(server_default="false")
    legal_hold_reason: Mapped[str | None] = mapped_column(String(500))
    # Deletion intent, committed before the file is unlinked: a crashed sweep or erasure is
    # finished by the next sweep (unlink if still there, then mark deleted with this reason).
    deleting_since: Mapped[datetime | None]
    deleting_reason: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = created_at()

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"))

    @declared_attr
    def case_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(ForeignKey("cases.id", ondelete="RESTRICT"), index=True)


def _audio_checks() -> tuple[CheckConstraint | Index, ...]:
    return (
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),
        CheckConstraint("size_bytes >= 0", name="size_nonnegative"),
        CheckConstraint("duration >= interval '0'", name="duration_nonnegative"),
        CheckConstraint("(deleted_at IS NULL) = (deletion_reason IS NULL)", name="deleted_reason"),
        CheckConstraint(
            f"deletion_reason IS NULL OR {sql_in('deletion_reason', DeletionReason)}",
            name="deletion_reason_known",
        ),
        CheckConstraint(sql_in("status", AudioStatus), name="status_known"),
        CheckConstraint(
            "(status = 'failed') = (failure_reason IS NOT NULL)", name="failed_has_reason"
        ),
        CheckConstraint("NOT legal_hold OR legal_hold_reason IS NOT NULL", name="hold_has_reason"),
        CheckConstraint(
            "(deleting_since IS NULL) = (deleting_reason IS NULL)", name="deleting_has_reason"
        ),
        CheckConstraint(
            f"deleting_reason IS NULL OR {sql_in('deleting_reason', DeletionReason)}",
            name="deleting_reason_known",
        ),
        # What the sweeper claims, oldest first per tenant (live, not held, not being deleted).
        Index(
            None,
            "tenant_id",
            "completed_at",
            "id",
            postgresql_where=text(SWEEPABLE),
        ),
    )


class Recording(_Audio, Base):
    __tablename__ = "recordings"
    __table_args__ = (
        *_audio_checks(),
        Index(None, "tenant_id", "completed_at"),
        CheckConstraint("jsonb_typeof(pauses) = 'array'", name="pauses_array"),
    )

    # [{"start": s, "end": s}, ...]: seconds from the recording's start (wall clock); the
    # paused audio is cut from the file.
    pauses: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    started_at: Mapped[datetime | None]  # recording began (after the notice, if any)
    notice_played_at: Mapped[datetime | None]  # the recording notice finished playing


class VoiceMessage(_Audio, Base):
    __tablename__ = "voice_messages"
    __table_args__ = (*_audio_checks(), Index(None, "tenant_id", "completed_at"))

    box: Mapped[str | None] = mapped_column(String(100))  # the voicemail:<box> it was left in


class ListeningEvent(Base):
    __tablename__ = "listening_events"
    __table_args__ = (
        CheckConstraint(sql_in("event_type", ListenKind), name="event_type_known"),
        CheckConstraint("length(btrim(link)) > 0", name="link_present"),
        CheckConstraint(
            "num_nonnulls(recording_id, voice_message_id) <= 1", name="one_audio_at_most"
        ),
        Index(None, "user_id", "at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    at: Mapped[datetime]
    event_type: Mapped[str] = mapped_column(String(16))
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"))
    case_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("cases.id", ondelete="RESTRICT"), index=True
    )
    # The link the audio was reached by (console URL, export file name...).
    link: Mapped[str] = mapped_column(Text)
    recording_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("recordings.id", ondelete="RESTRICT")
    )
    voice_message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("voice_messages.id", ondelete="RESTRICT")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
