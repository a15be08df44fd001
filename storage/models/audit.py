"""The hash-chained audit log and the erasure ledger (both append-only, never swept).

See :mod:`storage.auditchain` for the chain's canonical form.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Uuid, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, uuid_pk

ERASURE_BASES = ("data_subject_request", "retention", "other")


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        CheckConstraint("id >= 1", name="id_positive"),
        CheckConstraint("prev_hash ~ '^[0-9a-f]{64}$'", name="prev_hash_hex"),
        CheckConstraint("row_hash ~ '^[0-9a-f]{64}$'", name="row_hash_hex"),
        CheckConstraint("jsonb_typeof(details) = 'object'", name="details_object"),
        CheckConstraint("length(btrim(action)) > 0", name="action_present"),
        Index(None, "tenant_id", "at"),
    )

    # Gap-free, assigned under an advisory lock by the appender: a gap means a deleted row.
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="RESTRICT")
    )
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT")
    )
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(100))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    # UNIQUE: two rows can never claim the same predecessor, so the chain cannot fork.
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    row_hash: Mapped[str] = mapped_column(String(64), unique=True)


class Erasure(Base):
    """One performed erasure of a data subject's personal data (what, when, by whom).

    Holds no personal data itself: ``request_ref`` is the operator's ticket reference.
    """

    __tablename__ = "erasure_ledger"
    __table_args__ = (
        CheckConstraint(
            "basis IN (" + ", ".join(f"'{b}'" for b in ERASURE_BASES) + ")", name="basis_known"
        ),
        CheckConstraint("jsonb_typeof(counts) = 'object'", name="counts_object"),
        Index(None, "tenant_id", "performed_at"),
        Index(None, "subject_keys", postgresql_using="gin"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"))
    performed_at: Mapped[datetime]
    performed_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT")
    )
    actor: Mapped[str] = mapped_column(String(100))
    basis: Mapped[str] = mapped_column(String(32))
    request_ref: Mapped[str | None] = mapped_column(String(200))
    # Rows touched per table, e.g. {"cases": 3, "recordings": 1}.
    counts: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    case_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(Uuid()), server_default=text("'{}'::uuid[]")
    )
    # Salted one-way digests of the subject's canonical number / e-mail (issue 7), so a later
    # access request by the same person finds this entry although their data is gone.
    subject_digests: Mapped[list[str]] = mapped_column(
        ARRAY(String(200)), server_default=text("'{}'::varchar[]")
    )
    # Per-tenant salted one-way keys of the same identifiers (storage.ledger_keys, issue 17):
    # found through a GIN index, so an access request does not recompute every digest.
    # NULL on entries written before they existed (matched through subject_digests).
    subject_keys: Mapped[list[str] | None] = mapped_column(ARRAY(String(64)))
