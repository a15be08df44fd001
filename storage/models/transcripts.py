"""Transcription jobs and the redacted transcripts they produce (issue 18).

A job is queued by a trigger in the same transaction as its completed recording or voice
message row, when the tenant has transcripts switched on; workers claim jobs with
``FOR UPDATE SKIP LOCKED``. A transcript row holds only redacted text. Transcripts are
deleted (not blanked) by erasure and by the sweeper past the tenant's transcript retention.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, String, Text
from sqlalchemy import text as sql
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, created_at, uuid_pk

JOB_STATES = ("queued", "running", "waiting", "done", "failed", "cancelled")
_ONE_AUDIO = "num_nonnulls(recording_id, voice_message_id) = 1"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class TranscriptionJob(Base):
    __tablename__ = "transcription_jobs"
    __table_args__ = (
        CheckConstraint(_in("status", JOB_STATES), name="status_known"),
        CheckConstraint(_ONE_AUDIO, name="one_audio"),
        CheckConstraint("attempts >= 0", name="attempts_nonnegative"),
        # What a worker claims: oldest queued first.
        Index(None, "created_at", postgresql_where=sql("status IN ('queued', 'running')")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"))
    case_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("cases.id", ondelete="RESTRICT"), index=True
    )
    recording_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("recordings.id", ondelete="RESTRICT"), unique=True
    )
    voice_message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("voice_messages.id", ondelete="RESTRICT"), unique=True
    )
    status: Mapped[str] = mapped_column(String(16), server_default=sql("'queued'"))
    attempts: Mapped[int] = mapped_column(server_default="0")
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()


class Transcript(Base):
    __tablename__ = "transcripts"
    __table_args__ = (
        CheckConstraint(_ONE_AUDIO, name="one_audio"),
        CheckConstraint(
            "language IN ('fi', 'sv', 'en') OR language ~ '^[a-z]{2,3}$'", name="language_code"
        ),
        CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence_range"),
        CheckConstraint("model_sha256 ~ '^[0-9a-f]{64}$'", name="model_sha256_hex"),
        CheckConstraint("jsonb_typeof(redactions) = 'object'", name="redactions_object"),
        Index(None, "tenant_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"))
    case_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("cases.id", ondelete="RESTRICT"), index=True
    )
    recording_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("recordings.id", ondelete="RESTRICT"), unique=True
    )
    voice_message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("voice_messages.id", ondelete="RESTRICT"), unique=True
    )
    language: Mapped[str] = mapped_column(String(8))
    language_detected: Mapped[bool]  # True: detected by the model; False: from the flow
    engine: Mapped[str] = mapped_column(String(100))  # e.g. faster-whisper 1.2.1, int8
    model_sha256: Mapped[str] = mapped_column(String(64))
    confidence: Mapped[float] = mapped_column(Float)
    audio_seconds: Mapped[float] = mapped_column(Float)
    processing_seconds: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)  # redacted
    # placeholder label -> how many were put in ({"PHONE": 1, "EMAIL": 1})
    redactions: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=sql("'{}'::jsonb"))
    created_at: Mapped[datetime] = created_at()
