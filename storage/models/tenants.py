"""Tenants (customers of the platform) and the service numbers callers dial."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import CheckConstraint, ForeignKey, Interval, String, text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, created_at, uuid_pk

SERVICES = ("bulletin", "answering", "callcenter", "taxi")
RETENTION_MIN = "1 day"
RETENTION_MAX = "36 months"


def _retention_check(column: str) -> CheckConstraint:
    return CheckConstraint(
        f"{column} >= interval '{RETENTION_MIN}' AND {column} <= interval '{RETENTION_MAX}'",
        name=f"{column}_range",
    )


class Tenant(Base):
    __tablename__ = "tenants"
    __table_args__ = (
        CheckConstraint("slug ~ '^[a-z0-9][a-z0-9-]{0,63}$'", name="slug_format"),
        CheckConstraint("language IN ('fi', 'sv', 'en')", name="language_known"),
        _retention_check("recording_retention"),
        _retention_check("voicemail_retention"),
        _retention_check("case_retention"),
        _retention_check("transcript_retention"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8), server_default="fi")
    # An IANA zone name (checked against zoneinfo where it is set: the database has no list).
    time_zone: Mapped[str] = mapped_column(String(64), server_default="Europe/Helsinki")
    recording_retention: Mapped[timedelta] = mapped_column(
        Interval, server_default=text("interval '3 months'")
    )
    voicemail_retention: Mapped[timedelta] = mapped_column(
        Interval, server_default=text("interval '3 months'")
    )
    case_retention: Mapped[timedelta] = mapped_column(
        Interval, server_default=text("interval '12 months'")
    )
    # Transcripts of recordings and voice messages (issue 18): off unless switched on.
    transcripts_enabled: Mapped[bool] = mapped_column(server_default="false")
    transcript_retention: Mapped[timedelta] = mapped_column(
        Interval, server_default=text("interval '12 months'")
    )
    created_at: Mapped[datetime] = created_at()


class ServiceNumber(Base):
    __tablename__ = "service_numbers"
    __table_args__ = (
        CheckConstraint("number ~ '^[+]?[0-9*#]{1,32}$'", name="number_format"),
        CheckConstraint(
            "service IN (" + ", ".join(f"'{s}'" for s in SERVICES) + ")", name="service_known"
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"))
    number: Mapped[str] = mapped_column(String(33), unique=True)
    service: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(String(200), server_default="")
    created_at: Mapped[datetime] = created_at()
