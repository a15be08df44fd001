"""contact-request intake: idempotency keys for SMS/e-mail/chat/web webhooks (issue 6)

A gateway that retries a webhook sends the same idempotency key; a unique index on (tenant_id,
idempotency_key) makes a repeat (even two racing ones) land on the one original request.
``request_hash`` (SHA-256 of the normalised submission) tells a true repeat from a different
submission that reuses a key.

Revision ID: 20261123_0007
Revises: 20261123_0006
Create Date: 2026-11-23 11:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261123_0007"
down_revision = "20261123_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("contact_requests", sa.Column("idempotency_key", sa.String(128)))
    op.add_column("contact_requests", sa.Column("request_hash", sa.String(64)))
    op.create_index(
        op.f("ix_contact_requests_tenant_id_idempotency_key"),
        "contact_requests",
        ["tenant_id", "idempotency_key"],
        unique=True,
    )
    op.create_check_constraint(
        op.f("ck_contact_requests_idempotency_has_hash"),
        "contact_requests",
        "(idempotency_key IS NULL) = (request_hash IS NULL)",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("ck_contact_requests_idempotency_has_hash"), "contact_requests", type_="check"
    )
    op.drop_index(
        op.f("ix_contact_requests_tenant_id_idempotency_key"), table_name="contact_requests"
    )
    op.drop_column("contact_requests", "request_hash")
    op.drop_column("contact_requests", "idempotency_key")
