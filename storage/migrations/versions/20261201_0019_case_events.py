"""case timeline steps: menu attempts and agent offers (issue 14)

Revision ID: 20261201_0019
Revises: 20261201_0018
Create Date: 2026-12-01 19:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.roles import app_role

revision = "20261201_0019"
down_revision = "20261201_0018"
branch_labels = None
depends_on = None

# The vocabularies as of this revision (storage.events.MenuResult, OfferResult).
MENU_RESULTS = ("chosen", "invalid", "no_input")
OFFER_RESULTS = ("answered", "declined", "timeout", "unreachable", "missed", "caller_left")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.create_table(
        "case_events",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("menu", sa.String(length=64), nullable=True),
        sa.Column("choice", sa.String(length=16), nullable=True),
        sa.Column("option", sa.String(length=200), nullable=True),
        sa.Column("queue", sa.String(length=64), nullable=True),
        sa.Column("agent_login", sa.String(length=64), nullable=True),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint("seq >= 0", name=op.f("ck_case_events_seq_nonnegative")),
        sa.CheckConstraint(_in("kind", ("menu", "offer")), name=op.f("ck_case_events_kind_known")),
        sa.CheckConstraint(
            f"(kind = 'menu' AND menu IS NOT NULL AND {_in('result', MENU_RESULTS)} "
            "AND queue IS NULL AND agent_login IS NULL AND ended_at IS NULL) OR "
            f"(kind = 'offer' AND queue IS NOT NULL AND agent_login IS NOT NULL "
            f"AND ended_at IS NOT NULL AND {_in('result', OFFER_RESULTS)} "
            "AND menu IS NULL AND choice IS NULL AND option IS NULL)",
            name=op.f("ck_case_events_kind_fields"),
        ),
        sa.CheckConstraint(
            "choice IS NULL OR result = 'chosen'", name=op.f("ck_case_events_choice_only_chosen")
        ),
        sa.CheckConstraint(
            "ended_at IS NULL OR ended_at >= at", name=op.f("ck_case_events_end_after_start")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_events_case_id_cases"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["users.id"],
            name=op.f("fk_case_events_agent_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("case_id", "kind", "seq", name=op.f("pk_case_events")),
    )
    # Written by the case recorder (upserts), blanked by retention and erasure; never deleted.
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON case_events TO {app_role()}")


def downgrade() -> None:
    op.execute(f"REVOKE ALL ON case_events FROM {app_role()}")
    op.drop_table("case_events")
