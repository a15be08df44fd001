"""Browser sessions and personal API tokens (issue 13). Only SHA-256 hashes of the random
tokens are stored; the cookie or the client holds the token itself."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, created_at, uuid_pk

SHA256_HEX = "^[0-9a-f]{64}$"


class WebSession(Base):
    __tablename__ = "web_sessions"
    __table_args__ = (
        CheckConstraint(f"token_hash ~ '{SHA256_HEX}'", name="token_sha256"),
        CheckConstraint("expires_at > created_at", name="expires_after_start"),
        CheckConstraint("(ended_at IS NULL) = (end_reason IS NULL)", name="end_has_reason"),
        Index("ix_web_sessions_user_id_live", "user_id", postgresql_where=text("ended_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = created_at()
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]  # the absolute end; idle expiry counts from last_seen_at
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(32))


class ApiToken(Base):
    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint(f"token_hash ~ '{SHA256_HEX}'", name="token_sha256"),
        CheckConstraint("length(btrim(name)) > 0", name="name_present"),
        CheckConstraint("expires_at IS NULL OR expires_at > created_at", name="expires_later"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = created_at()
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
