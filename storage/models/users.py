"""Users of the console and agents (never deleted by retention: disabled instead)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.events import Role, sql_in
from storage.models.base import Base, created_at, uuid_pk

LOGIN_RE = "^[a-z0-9._@-]{2,100}$"
PHONE_RE = "^[+]?[0-9]{3,20}$"
EMAIL_RE = "^[^@[:space:]]+@[^@[:space:]]+$"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(sql_in("role", Role), name="role_known"),
        CheckConstraint("length(btrim(name)) > 0", name="name_present"),
        CheckConstraint(f"login ~ '{LOGIN_RE}'", name="login_format"),
        CheckConstraint("password_hash LIKE '$argon2%'", name="password_argon2"),
        CheckConstraint(f"email IS NULL OR email ~ '{EMAIL_RE}'", name="email_format"),
        CheckConstraint(
            f"phone_number IS NULL OR phone_number ~ '{PHONE_RE}'", name="phone_format"
        ),
        CheckConstraint(
            "phone_pin_hash IS NULL OR phone_pin_hash LIKE '$argon2%'", name="pin_argon2"
        ),
        CheckConstraint(
            "phone_login IS NULL OR (phone_login ~ '^[0-9]{2,16}$' AND phone_pin_hash IS NOT NULL)",
            name="phone_login_needs_pin",
        ),
        # Platform operators have no tenant; everyone else belongs to one.
        CheckConstraint("(tenant_id IS NULL) = (role = 'operator')", name="tenant_or_platform"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    login: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16))
    phone_number: Mapped[str | None] = mapped_column(String(21))
    phone_login: Mapped[str | None] = mapped_column(String(16), unique=True)
    phone_pin_hash: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_at()
    disabled_at: Mapped[datetime | None]
