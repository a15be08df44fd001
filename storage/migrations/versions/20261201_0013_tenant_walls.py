"""tenant walls: stored intake tokens, phone-login lockout (issue 13)

Intake tokens were ``HMAC(global secret, slug)``: a reused slug inherited the old token and
nothing could be revoked. Now each token is random, stored only as its SHA-256 digest and
bound to the tenant's id; it can be revoked, or rotated with an overlap (``expires_at``).
Phone logins (`*50`) count failed PIN guesses per user across calls and controllers and lock
for an increasing time (``phone_login_locks``).

Revision ID: 20261201_0013
Revises: 20261201_0012
Create Date: 2026-12-01 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.roles import app_role

revision = "20261201_0013"
down_revision = "20261201_0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intake_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "token_sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_intake_tokens_sha256_hex")
        ),
        sa.CheckConstraint("length(btrim(label)) > 0", name=op.f("ck_intake_tokens_label_present")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_intake_tokens_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intake_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_intake_tokens_token_sha256")),
    )
    op.create_index(
        op.f("ix_intake_tokens_tenant_id_created_at"),
        "intake_tokens",
        ["tenant_id", "created_at"],
    )
    op.create_table(
        "phone_login_locks",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "failures >= 0", name=op.f("ck_phone_login_locks_failures_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_phone_login_locks_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_phone_login_locks")),
    )
    role = app_role()
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON intake_tokens TO {role}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON phone_login_locks TO {role}")


def downgrade() -> None:
    role = app_role()
    op.execute(f"REVOKE ALL ON phone_login_locks FROM {role}")
    op.execute(f"REVOKE ALL ON intake_tokens FROM {role}")
    op.drop_table("phone_login_locks")
    op.drop_index(op.f("ix_intake_tokens_tenant_id_created_at"), table_name="intake_tokens")
    op.drop_table("intake_tokens")
