"""erasure ledger lookup keys: find a person's entries by index (issue 17, item 9)

``subject_keys`` holds per-tenant salted one-way keys of the subject's identifiers
(:mod:`storage.ledger_keys`), written with each new entry; a GIN index answers
``subject_keys && :keys``. Entries written before this migration keep ``subject_keys`` NULL
(their identifiers are not known, so no key can be filled in, and the ledger stays
append-only); they are still matched through their per-entry digests, off the event loop.

Revision ID: 20261201_0009
Revises: 20261123_0007
Create Date: 2026-12-01 11:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "20261201_0009"
down_revision = "20261123_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "erasure_ledger",
        sa.Column("subject_keys", postgresql.ARRAY(sa.String(64)), nullable=True),
    )
    op.create_index(
        op.f("ix_erasure_ledger_subject_keys"),
        "erasure_ledger",
        ["subject_keys"],
        postgresql_using="gin",
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_erasure_ledger_subject_keys"), table_name="erasure_ledger")
    op.drop_column("erasure_ledger", "subject_keys")
