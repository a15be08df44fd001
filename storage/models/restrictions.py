"""Restriction of processing (a data-subject right): a restricted person's new calls are not
recorded and their callback requests are not dialled, but nothing is deleted.

``number`` is canonical E.164 (:func:`storage.contacts.normalise_number`), ``email``
lowercased. A restriction is lifted by setting ``lifted_at``; rows are never deleted.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, uuid_pk


class SubjectRestriction(Base):
    __tablename__ = "subject_restrictions"
    __table_args__ = (
        CheckConstraint("num_nonnulls(number, email) >= 1", name="has_subject"),
        CheckConstraint("number IS NULL OR number ~ '^[+]?[0-9]{3,20}$'", name="number_format"),
        CheckConstraint("email IS NULL OR email = lower(email)", name="email_lowercase"),
        CheckConstraint("(lifted_at IS NULL) = (lifted_by IS NULL)", name="lifted_has_actor"),
        CheckConstraint("lifted_at IS NULL OR lifted_at >= restricted_at", name="lift_after"),
        Index(None, "tenant_id", "number"),
        Index(None, "tenant_id", "email"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"))
    number: Mapped[str | None] = mapped_column(String(21))
    email: Mapped[str | None] = mapped_column(String(320))
    restricted_at: Mapped[datetime]
    restricted_by: Mapped[str] = mapped_column(String(100))
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT")
    )
    reason: Mapped[str | None] = mapped_column(String(500))
    lifted_at: Mapped[datetime | None]
    lifted_by: Mapped[str | None] = mapped_column(String(100))
