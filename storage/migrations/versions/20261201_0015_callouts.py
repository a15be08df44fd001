"""staff call-outs: member numbers, PIN and availability; call-outs, members, attempts (issue 16)

Revision ID: 20261201_0015
Revises: 20261201_0014
Create Date: 2026-12-01 13:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from storage.roles import app_role

revision = "20261201_0015"
down_revision = "20261201_0014"
branch_labels = None
depends_on = None

OUTCOMES = (
    "confirmed",
    "declined",
    "busy",
    "no_answer",
    "failed",
    "no_key",
    "wrong_pin",
    "machine",
    "interrupted",
    "ended",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.add_column(
        "staff_group_members",
        sa.Column(
            "other_numbers",
            postgresql.ARRAY(sa.String(length=21)),
            server_default="{}",
            nullable=False,
        ),
    )
    op.add_column(
        "staff_group_members",
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column("staff_group_members", sa.Column("pin_hash", sa.String(length=200)))
    op.add_column(
        "staff_group_members",
        sa.Column("available", sa.Boolean(), server_default="true", nullable=False),
    )
    op.create_table(
        "callouts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=True),
        sa.Column("escalate_group_id", sa.Uuid(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("audio", sa.LargeBinary(), nullable=True),
        sa.Column("audio_sha256", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("needed", sa.Integer(), nullable=False),
        sa.Column("wait_seconds", sa.Integer(), nullable=False),
        sa.Column("window_seconds", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("retry_delay", sa.Integer(), nullable=False),
        sa.Column("ring_seconds", sa.Integer(), nullable=False),
        sa.Column("max_parallel", sa.Integer(), nullable=False),
        sa.Column("pin_required", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="running", nullable=False),
        sa.Column(
            "started_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.CheckConstraint(
            _in("status", ("running", "confirmed", "exhausted", "expired", "cancelled")),
            name=op.f("ck_callouts_status_known"),
        ),
        sa.CheckConstraint("needed >= 1", name=op.f("ck_callouts_needed_positive")),
        sa.CheckConstraint("wait_seconds > 0", name=op.f("ck_callouts_wait_positive")),
        sa.CheckConstraint(
            "length(btrim(message)) > 0 OR audio_sha256 IS NOT NULL",
            name=op.f("ck_callouts_message_present"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_callouts_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["staff_groups.id"], name=op.f("fk_callouts_group_id_staff_groups"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["escalate_group_id"], ["staff_groups.id"],
            name=op.f("fk_callouts_escalate_group_id_staff_groups"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callouts")),
    )  # fmt: skip
    op.create_index("ix_callouts_status", "callouts", ["status"])
    op.create_table(
        "callout_members",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("callout_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("escalation", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("state", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dialing_by", sa.String(length=100), nullable=True),
        sa.Column("dialing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            _in("state", ("pending", "confirmed", "declined", "failed")),
            name=op.f("ck_callout_members_state_known"),
        ),
        sa.ForeignKeyConstraint(
            ["callout_id"], ["callouts.id"], name=op.f("fk_callout_members_callout_id_callouts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["staff_group_members.id"],
            name=op.f("fk_callout_members_member_id_staff_group_members"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callout_members")),
        sa.UniqueConstraint(
            "callout_id", "member_id", name=op.f("uq_callout_members_callout_id_member_id")
        ),
    )  # fmt: skip
    op.create_index(op.f("ix_callout_members_callout_id"), "callout_members", ["callout_id"])
    op.create_table(
        "callout_attempts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("callout_member_id", sa.Uuid(), nullable=False),
        sa.Column("attempt_no", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=21), nullable=True),
        sa.Column("channel_id", sa.String(length=100), nullable=False),
        sa.Column("controller", sa.String(length=100), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("key", sa.String(length=8), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.CheckConstraint(
            "outcome IS NULL OR " + _in("outcome", OUTCOMES),
            name=op.f("ck_callout_attempts_outcome_known"),
        ),
        sa.ForeignKeyConstraint(
            ["callout_member_id"], ["callout_members.id"],
            name=op.f("fk_callout_attempts_callout_member_id_callout_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callout_attempts")),
        sa.UniqueConstraint(
            "callout_member_id", "attempt_no",
            name=op.f("uq_callout_attempts_callout_member_id_attempt_no"),
        ),
    )  # fmt: skip
    op.create_index(
        op.f("ix_callout_attempts_callout_member_id"), "callout_attempts", ["callout_member_id"]
    )
    role = app_role()
    # Call-outs and their rows are never deleted by the application, except by an erasure
    # (attempt numbers are blanked, member links set to NULL by the member's deletion).
    op.execute(
        f"GRANT SELECT, INSERT, UPDATE ON callouts, callout_members, callout_attempts TO {role}"
    )


def downgrade() -> None:
    role = app_role()
    op.execute(f"REVOKE ALL ON callouts, callout_members, callout_attempts FROM {role}")
    op.drop_index(op.f("ix_callout_attempts_callout_member_id"), table_name="callout_attempts")
    op.drop_table("callout_attempts")
    op.drop_index(op.f("ix_callout_members_callout_id"), table_name="callout_members")
    op.drop_table("callout_members")
    op.drop_index("ix_callouts_status", table_name="callouts")
    op.drop_table("callouts")
    for column in ("available", "pin_hash", "position", "other_numbers"):
        op.drop_column("staff_group_members", column)
