"""shared queues: waiting entries, rings and departures of every controller (issue 19)

Revision ID: 20261201_0020
Revises: 20261201_0019
Create Date: 2026-12-01 23:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from storage.roles import app_role

revision = "20261201_0020"
down_revision = "20261201_0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per entry waiting in a queue, whichever controller holds its caller.
    op.create_table(
        "queue_waiting",
        sa.Column("entry_id", sa.String(length=200), nullable=False),
        sa.Column("queue", sa.String(length=130), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("controller", sa.String(length=64), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ring", postgresql.JSONB(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "kind IN ('live', 'callback')", name=op.f("ck_queue_waiting_kind_known")
        ),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_queue_waiting")),
    )
    op.create_index(
        op.f("ix_queue_waiting_queue_enqueued_at_seq"),
        "queue_waiting",
        ["queue", "enqueued_at", "seq"],
    )
    # One row per agent ringing for an entry: the primary key is "one offer at a time".
    op.create_table(
        "queue_rings",
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("entry_id", sa.String(length=200), nullable=False),
        sa.Column("offer_id", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["queue_waiting.entry_id"],
            name=op.f("fk_queue_rings_entry_id_queue_waiting"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", name=op.f("pk_queue_rings")),
    )
    # How an entry left its queue when another controller took it out (max_wait): read
    # and deleted by the controller holding the caller.
    op.create_table(
        "queue_departures",
        sa.Column("entry_id", sa.String(length=200), nullable=False),
        sa.Column("controller", sa.String(length=64), nullable=False),
        sa.Column("departure", postgresql.JSONB(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_queue_departures")),
    )
    op.create_index(op.f("ix_queue_departures_controller"), "queue_departures", ["controller"])
    for table in ("queue_waiting", "queue_rings", "queue_departures"):
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {app_role()}")


def downgrade() -> None:
    for table in ("queue_departures", "queue_rings", "queue_waiting"):
        op.execute(f"REVOKE ALL ON {table} FROM {app_role()}")
        op.drop_table(table)
