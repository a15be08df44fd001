"""retention: legal hold, crash-safe deletion intent, sweep bookkeeping (issue 7)

Revision ID: 20261123_0006
Revises: 20261123_0005
Create Date: 2026-11-23 11:50:00
"""

from __future__ import annotations

revision = "20261123_0006"
down_revision = "20261123_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
