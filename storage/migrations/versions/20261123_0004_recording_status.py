"""recordings: status (completed/failed) with failure reason, pauses; voice message details (issue 5)

Revision ID: 20261123_0004
Revises: 20261122_0003
Create Date: 2026-11-23 11:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "20261123_0004"
down_revision = "20261122_0003"
branch_labels = None
depends_on = None

_AUDIO = ("recordings", "voice_messages")


def upgrade() -> None:
    for table in _AUDIO:
        op.add_column(
            table,
            sa.Column(
                "status",
                sa.String(length=16),
                server_default=sa.text("'completed'"),
                nullable=False,
            ),
        )
        op.add_column(table, sa.Column("failure_reason", sa.Text(), nullable=True))
        op.create_check_constraint(
            op.f(f"ck_{table}_status_known"), table, "status IN ('completed', 'failed')"
        )
        op.create_check_constraint(
            op.f(f"ck_{table}_failed_has_reason"),
            table,
            "(status = 'failed') = (failure_reason IS NOT NULL)",
        )
    op.add_column(
        "recordings",
        sa.Column(
            "pauses",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column("recordings", sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "recordings", sa.Column("notice_played_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_check_constraint(
        op.f("ck_recordings_pauses_array"), "recordings", "jsonb_typeof(pauses) = 'array'"
    )
    op.add_column("voice_messages", sa.Column("box", sa.String(length=100), nullable=True))


def downgrade() -> None:
    op.drop_column("voice_messages", "box")
    op.drop_constraint(op.f("ck_recordings_pauses_array"), "recordings", type_="check")
    op.drop_column("recordings", "notice_played_at")
    op.drop_column("recordings", "started_at")
    op.drop_column("recordings", "pauses")
    for table in _AUDIO:
        op.drop_constraint(op.f(f"ck_{table}_failed_has_reason"), table, type_="check")
        op.drop_constraint(op.f(f"ck_{table}_status_known"), table, type_="check")
        op.drop_column(table, "failure_reason")
        op.drop_column(table, "status")
