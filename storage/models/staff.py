"""Staff groups for the call-out service: staff and partners phoned with a message."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, created_at, uuid_pk
from storage.models.users import PHONE_RE

MEMBER_KINDS = ("staff", "partner")


class StaffGroup(Base):
    __tablename__ = "staff_groups"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        CheckConstraint("length(btrim(name)) > 0", name="name_present"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(500), server_default="")
    created_at: Mapped[datetime] = created_at()


class StaffGroupMember(Base):
    __tablename__ = "staff_group_members"
    __table_args__ = (
        UniqueConstraint("group_id", "phone_number"),
        CheckConstraint(f"phone_number ~ '{PHONE_RE}'", name="phone_format"),
        CheckConstraint("length(btrim(name)) > 0", name="name_present"),
        CheckConstraint(
            "kind IN (" + ", ".join(f"'{k}'" for k in MEMBER_KINDS) + ")", name="kind_known"
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    group_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("staff_groups.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    phone_number: Mapped[str] = mapped_column(String(21))
    kind: Mapped[str] = mapped_column(String(16), server_default="staff")
    # Set when the member is also a Linja user (partners usually are not).
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = created_at()
    # Call-out (issue 16): numbers after phone_number, in order of preference; the calling
    # order within the group; an argon2 hash of the member's PIN; whether they are called.
    other_numbers: Mapped[list[str]] = mapped_column(ARRAY(String(21)), server_default="{}")
    position: Mapped[int] = mapped_column(Integer, server_default="0")
    pin_hash: Mapped[str | None] = mapped_column(String(200))
    available: Mapped[bool] = mapped_column(Boolean, server_default="true")
