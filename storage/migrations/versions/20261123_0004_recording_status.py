"""recordings: status (completed/failed) with failure reason, pauses; voice message details (issue 5)

Revision ID: 20261123_0004
Revises: 20261122_0003
Create Date: 2026-11-23 11:50:00
"""

from __future__ import annotations

revision = "20261123_0004"
down_revision = "20261122_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
