"""browser sessions and personal API tokens (issue 13)

``web_sessions`` and ``api_tokens`` hold SHA-256 hashes of random tokens, never the tokens.
The app role reads, creates and ends sessions and deletes those long over (the cleanup
task); API tokens are revoked, never deleted, so the audit log's targets stay resolvable.

Revision ID: 20261201_0011
Revises: 20261201_0010
Create Date: 2026-12-01 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.roles import app_role

revision = "20261201_0011"
down_revision = "20261201_0010"
branch_labels = None
depends_on = None

SHA256_HEX = "^[0-9a-f]{64}$"


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=True),
        sa.CheckConstraint(
            f"token_hash ~ '{SHA256_HEX}'", name=op.f("ck_web_sessions_token_sha256")
        ),
        sa.CheckConstraint(
            "expires_at > created_at", name=op.f("ck_web_sessions_expires_after_start")
        ),
        sa.CheckConstraint(
            "(ended_at IS NULL) = (end_reason IS NULL)", name=op.f("ck_web_sessions_end_has_reason")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_web_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_sessions_token_hash")),
    )
    op.create_index(
        "ix_web_sessions_user_id_live",
        "web_sessions",
        ["user_id"],
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"token_hash ~ '{SHA256_HEX}'", name=op.f("ck_api_tokens_token_sha256")),
        sa.CheckConstraint("length(btrim(name)) > 0", name=op.f("ck_api_tokens_name_present")),
        sa.CheckConstraint(
            "expires_at IS NULL OR expires_at > created_at",
            name=op.f("ck_api_tokens_expires_later"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"])
    role = app_role()
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON web_sessions TO {role}")
    op.execute(f"GRANT SELECT, INSERT ON api_tokens TO {role}")
    op.execute(f"GRANT UPDATE (last_used_at, revoked_at) ON api_tokens TO {role}")


def downgrade() -> None:
    role = app_role()
    op.execute(f"REVOKE ALL ON api_tokens, web_sessions FROM {role}")
    op.drop_index(op.f("ix_api_tokens_user_id"), table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_index("ix_web_sessions_user_id_live", table_name="web_sessions")
    op.drop_table("web_sessions")
