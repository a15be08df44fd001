"""Credentials that open a tenant's doors besides user passwords: intake tokens of the
gateways (stored only as SHA-256 digests), and the failure count of phone logins (`*50`)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, created_at, uuid_pk


class IntakeToken(Base):
    """One bearer token of a tenant's intake webhooks. ``expires_at`` is set when the token
    is rotated (it keeps working for the overlap) or given an expiry; ``revoked_at`` ends it."""

    __tablename__ = "intake_tokens"
    __table_args__ = (
        CheckConstraint("token_sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),
        CheckConstraint("length(btrim(label)) > 0", name="label_present"),
        Index(None, "tenant_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(16))  # the token's first characters, for lists
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = created_at()
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class PhoneLoginLock(Base):
    """Failed PIN guesses of one user's phone login across calls and controllers, and until
    when the login is locked. The row goes away on a successful login or an unlock."""

    __tablename__ = "phone_login_locks"
    __table_args__ = (CheckConstraint("failures >= 0", name="failures_not_negative"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    failures: Mapped[int]
    last_failure_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
