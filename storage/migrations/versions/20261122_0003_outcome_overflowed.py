"""case outcome `overflowed` (a queue was full, had no agents, or the wait ran out)

Revision ID: 20261122_0003
Revises: 20261122_0002
Create Date: 2026-11-22 08:25:00
"""

from __future__ import annotations

from alembic import op

revision = "20261122_0003"
down_revision = "20261122_0002"
branch_labels = None
depends_on = None

_BEFORE = (
    "answered",
    "handled",
    "abandoned",
    "callback_requested",
    "voicemail",
    "transferred",
    "closed",
    "failed",
)
_AFTER = (*_BEFORE[:3], "overflowed", *_BEFORE[3:])


def _check(values: tuple[str, ...]) -> str:
    return "outcome IS NULL OR outcome IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_cases_outcome_known"), "cases", type_="check")
    op.create_check_constraint(op.f("ck_cases_outcome_known"), "cases", _check(_AFTER))


def downgrade() -> None:
    op.execute("UPDATE cases SET outcome = 'abandoned' WHERE outcome = 'overflowed'")
    op.drop_constraint(op.f("ck_cases_outcome_known"), "cases", type_="check")
    op.create_check_constraint(op.f("ck_cases_outcome_known"), "cases", _check(_BEFORE))
