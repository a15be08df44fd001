"""call-out attempt outcome `answered` (the member answered; their controller died before a key)

An attempt a takeover (or the orphaned leg's hang-up) closes after the member had answered is
``answered``, not ``interrupted``, like a callback request whose customer had answered.

Revision ID: 20261201_0016
Revises: 20261201_0015
Create Date: 2026-12-01 15:50:00
"""

from __future__ import annotations

from alembic import op

revision = "20261201_0016"
down_revision = "20261201_0015"
branch_labels = None
depends_on = None

_BEFORE = (
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
_AFTER = (*_BEFORE, "answered")
_NAME = "ck_callout_attempts_outcome_known"


def _check(values: tuple[str, ...]) -> str:
    return "outcome IS NULL OR outcome IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.drop_constraint(op.f(_NAME), "callout_attempts", type_="check")
    op.create_check_constraint(op.f(_NAME), "callout_attempts", _check(_AFTER))


def downgrade() -> None:
    op.execute("UPDATE callout_attempts SET outcome = 'interrupted' WHERE outcome = 'answered'")
    op.drop_constraint(op.f(_NAME), "callout_attempts", type_="check")
    op.create_check_constraint(op.f(_NAME), "callout_attempts", _check(_BEFORE))
