"""agent state in Postgres: one row per agent, for restarts and the wallboard (issue 14)

Revision ID: 20261201_0018
Revises: 20261201_0017
Create Date: 2026-12-01 15:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.roles import app_role

revision = "20261201_0018"
down_revision = "20261201_0017"
branch_labels = None
depends_on = None

STATES = ("logged_out", "available", "ringing", "busy", "wrap_up", "paused")


def upgrade() -> None:
    op.create_table(
        "agent_states",
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("idle_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("wrap_up_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pause_reason", sa.String(length=200), nullable=True),
        sa.Column("offer_id", sa.String(length=200), nullable=True),
        sa.Column("entry_id", sa.String(length=200), nullable=True),
        sa.Column("queue", sa.String(length=130), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pending", sa.String(length=8), nullable=True),
        sa.Column("pending_reason", sa.String(length=200), nullable=True),
        sa.Column("calls", sa.Integer(), server_default="0", nullable=False),
        sa.Column("controller", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), server_default="1", nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "state IN (" + ", ".join(f"'{s}'" for s in STATES) + ")",
            name=op.f("ck_agent_states_state_known"),
        ),
        sa.CheckConstraint(
            "pending IS NULL OR pending IN ('pause', 'logout')",
            name=op.f("ck_agent_states_pending_known"),
        ),
        sa.CheckConstraint("calls >= 0", name=op.f("ck_agent_states_calls_nonnegative")),
        sa.PrimaryKeyConstraint("agent_id", name=op.f("pk_agent_states")),
    )
    # Agents are never deleted by the application: a logged-out agent keeps its row.
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON agent_states TO {app_role()}")


def downgrade() -> None:
    op.execute(f"REVOKE ALL ON agent_states FROM {app_role()}")
    op.drop_table("agent_states")
