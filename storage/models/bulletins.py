"""Disruption bulletins and the anonymous call counters of the bulletin service.

Bulletin callers leave no personal data: a call only increments a counter per service
number, bulletin and hour.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, created_at, uuid_pk


class Bulletin(Base):
    __tablename__ = "bulletins"
    __table_args__ = (
        CheckConstraint(
            "(text IS NOT NULL AND length(btrim(text)) > 0) OR audio IS NOT NULL",
            name="has_content",
        ),
        CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name="window_order"),
        CheckConstraint("(audio IS NULL) = (audio_sha256 IS NULL)", name="audio_hashed"),
        CheckConstraint("language IN ('fi', 'sv', 'en')", name="language_known"),
        Index(None, "service_number_id", "starts_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"))
    service_number_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("service_numbers.id", ondelete="RESTRICT")
    )
    language: Mapped[str] = mapped_column(String(8))
    text: Mapped[str | None] = mapped_column(Text)
    audio: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    audio_sha256: Mapped[str | None] = mapped_column(String(64))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    cleared_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at()


class BulletinCallCounter(Base):
    __tablename__ = "bulletin_call_counters"
    __table_args__ = (
        UniqueConstraint(
            "service_number_id", "bulletin_id", "hour", postgresql_nulls_not_distinct=True
        ),
        CheckConstraint("calls >= 0", name="calls_non_negative"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    service_number_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("service_numbers.id", ondelete="RESTRICT")
    )
    # NULL: the caller heard the "no known disruptions" prompt.
    bulletin_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("bulletins.id", ondelete="RESTRICT")
    )
    hour: Mapped[datetime]
    calls: Mapped[int] = mapped_column(Integer)


class BulletinCounterBatch(Base):
    """A batch of call counts already added to ``bulletin_call_counters``, by the id of the
    controller's journal segment it came from: a segment replayed after a crash whose counts
    were stored before it is skipped (each call counted once). Kept two days
    (:data:`storage.repositories.bulletins.BATCHES_KEPT`)."""

    __tablename__ = "bulletin_counter_batches"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    applied_at: Mapped[datetime] = mapped_column(index=True, server_default=func.now())
