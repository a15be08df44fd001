"""controller heartbeats; the controller holding each case; outcome / queue exit node_lost (issue 19)

Each controller has a ``controllers`` row it beats every few seconds. Each case names the
controller whose recorder wrote it first (``cases.controller_id``): when that controller goes
down (its beat older than the bound), another ends the case with outcome ``node_lost``, and
its open queue stay with exit ``node_lost``.

Revision ID: 20261201_0021
Revises: 20261201_0020
Create Date: 2026-12-01 23:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.roles import app_role

revision = "20261201_0021"
down_revision = "20261201_0020"
branch_labels = None
depends_on = None

OUTCOMES = (
    "answered",
    "handled",
    "abandoned",
    "overflowed",
    "callback_requested",
    "voicemail",
    "transferred",
    "closed",
    "failed",
)
EXITS = (
    "served",
    "abandoned",
    "callback",
    "voicemail",
    "timeout",
    "overflowed",
    "transferred",
    "closed",
    "failed",
)
LOST = "node_lost"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IS NULL OR {column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _checks(outcomes: tuple[str, ...], exits: tuple[str, ...]) -> None:
    op.drop_constraint(op.f("ck_cases_outcome_known"), "cases", type_="check")
    op.create_check_constraint(op.f("ck_cases_outcome_known"), "cases", _in("outcome", outcomes))
    op.drop_constraint(op.f("ck_queue_entries_exit_known"), "queue_entries", type_="check")
    op.create_check_constraint(
        op.f("ck_queue_entries_exit_known"), "queue_entries", _in("exit_reason", exits)
    )


def upgrade() -> None:
    op.create_table(
        "controllers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column(
            "started_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "beat_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_controllers")),
    )
    op.create_index(op.f("ix_controllers_node_beat_at"), "controllers", ["node", "beat_at"])
    op.add_column("cases", sa.Column("controller_id", sa.String(length=64), nullable=True))
    op.create_index(
        op.f("ix_cases_controller_id"),
        "cases",
        ["controller_id"],
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    _checks((*OUTCOMES, LOST), (*EXITS, LOST))
    # Rows of controllers are never deleted by the application (the wallboard shows the
    # latest per node; a stopped one keeps its row).
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON controllers TO {app_role()}")


def downgrade() -> None:
    op.execute(f"REVOKE ALL ON controllers FROM {app_role()}")
    op.execute("UPDATE queue_entries SET exit_reason = 'failed' WHERE exit_reason = 'node_lost'")
    op.execute("UPDATE cases SET outcome = 'failed' WHERE outcome = 'node_lost'")
    _checks(OUTCOMES, EXITS)
    op.drop_index(op.f("ix_cases_controller_id"), table_name="cases")
    op.drop_column("cases", "controller_id")
    op.drop_index(op.f("ix_controllers_node_beat_at"), table_name="controllers")
    op.drop_table("controllers")
