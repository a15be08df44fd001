"""retention: legal hold, crash-safe deletion intent, subject restrictions (issue 7)

Revision ID: 20261123_0006
Revises: 20261123_0005
Create Date: 2026-11-23 11:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from storage.roles import app_role

revision = "20261123_0006"
down_revision = "20261123_0005"
branch_labels = None
depends_on = None

AUDIO_TABLES = ("recordings", "voice_messages")
REASONS = "'retention', 'erasure', 'manual'"
# Rows the sweeper may claim (a partial index keeps each claim a short index range scan).
SWEEPABLE = "deleted_at IS NULL AND deleting_since IS NULL AND NOT legal_hold"


def upgrade() -> None:
    for table in AUDIO_TABLES:
        op.add_column(
            table,
            sa.Column("legal_hold", sa.Boolean(), server_default="false", nullable=False),
        )
        op.add_column(table, sa.Column("legal_hold_reason", sa.String(length=500), nullable=True))
        op.add_column(table, sa.Column("deleting_since", sa.DateTime(timezone=True), nullable=True))
        op.add_column(table, sa.Column("deleting_reason", sa.String(length=16), nullable=True))
        op.create_check_constraint(
            op.f(f"ck_{table}_hold_has_reason"),
            table,
            "NOT legal_hold OR legal_hold_reason IS NOT NULL",
        )
        op.create_check_constraint(
            op.f(f"ck_{table}_deleting_has_reason"),
            table,
            "(deleting_since IS NULL) = (deleting_reason IS NULL)",
        )
        op.create_check_constraint(
            op.f(f"ck_{table}_deleting_reason_known"),
            table,
            f"deleting_reason IS NULL OR deleting_reason IN ({REASONS})",
        )
        op.create_index(
            op.f(f"ix_{table}_tenant_id_completed_at_id"),
            table,
            ["tenant_id", "completed_at", "id"],
            unique=False,
            postgresql_where=sa.text(SWEEPABLE),
        )

    op.add_column(
        "erasure_ledger",
        sa.Column(
            "subject_digests",
            postgresql.ARRAY(sa.String(length=200)),
            server_default=sa.text("'{}'::varchar[]"),
            nullable=False,
        ),
    )
    op.create_table(
        "subject_restrictions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=21), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("restricted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("restricted_by", sa.String(length=100), nullable=False),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.String(length=100), nullable=True),
        sa.CheckConstraint(
            "num_nonnulls(number, email) >= 1", name=op.f("ck_subject_restrictions_has_subject")
        ),
        sa.CheckConstraint(
            "number IS NULL OR number ~ '^[+]?[0-9]{3,20}$'",
            name=op.f("ck_subject_restrictions_number_format"),
        ),
        sa.CheckConstraint(
            "email IS NULL OR email = lower(email)",
            name=op.f("ck_subject_restrictions_email_lowercase"),
        ),
        sa.CheckConstraint(
            "(lifted_at IS NULL) = (lifted_by IS NULL)",
            name=op.f("ck_subject_restrictions_lifted_has_actor"),
        ),
        sa.CheckConstraint(
            "lifted_at IS NULL OR lifted_at >= restricted_at",
            name=op.f("ck_subject_restrictions_lift_after"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_subject_restrictions_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["users.id"],
            name=op.f("fk_subject_restrictions_actor_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_restrictions")),
    )
    op.create_index(
        op.f("ix_subject_restrictions_tenant_id_number"),
        "subject_restrictions",
        ["tenant_id", "number"],
        unique=False,
    )
    op.create_index(
        op.f("ix_subject_restrictions_tenant_id_email"),
        "subject_restrictions",
        ["tenant_id", "email"],
        unique=False,
    )
    # Restrictions are lifted (UPDATE), never deleted.
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON subject_restrictions TO {app_role()}")


def downgrade() -> None:
    op.execute(f"REVOKE ALL ON subject_restrictions FROM {app_role()}")
    op.drop_index(
        op.f("ix_subject_restrictions_tenant_id_email"), table_name="subject_restrictions"
    )
    op.drop_index(
        op.f("ix_subject_restrictions_tenant_id_number"), table_name="subject_restrictions"
    )
    op.drop_table("subject_restrictions")
    op.drop_column("erasure_ledger", "subject_digests")
    for table in AUDIO_TABLES:
        op.drop_index(op.f(f"ix_{table}_tenant_id_completed_at_id"), table_name=table)
        op.drop_constraint(op.f(f"ck_{table}_deleting_reason_known"), table, type_="check")
        op.drop_constraint(op.f(f"ck_{table}_deleting_has_reason"), table, type_="check")
        op.drop_constraint(op.f(f"ck_{table}_hold_has_reason"), table, type_="check")
        op.drop_column(table, "deleting_reason")
        op.drop_column(table, "deleting_since")
        op.drop_column(table, "legal_hold_reason")
        op.drop_column(table, "legal_hold")
