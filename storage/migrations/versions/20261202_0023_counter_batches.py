"""bulletin counter batches: each journal segment's counts stored once (issue 15)

The bulletin service counts calls in memory and in a journal on the controller's disk, and
stores each segment of it as one batch. ``bulletin_counter_batches`` names the batches stored:
a segment replayed after a ``kill -9`` whose counts had been stored already is skipped.
Rows older than two days are deleted by the controllers.

Revision ID: 20261202_0023
Revises: 20261201_0021
Create Date: 2026-12-02 14:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.roles import app_role

revision = "20261202_0023"
down_revision = "20261201_0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bulletin_counter_batches",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "applied_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulletin_counter_batches")),
    )
    op.create_index(
        op.f("ix_bulletin_counter_batches_applied_at"), "bulletin_counter_batches", ["applied_at"]
    )
    op.execute(f"GRANT SELECT, INSERT, DELETE ON bulletin_counter_batches TO {app_role()}")


def downgrade() -> None:
    op.execute(f"REVOKE ALL ON bulletin_counter_batches FROM {app_role()}")
    op.drop_index(
        op.f("ix_bulletin_counter_batches_applied_at"), table_name="bulletin_counter_batches"
    )
    op.drop_table("bulletin_counter_batches")
