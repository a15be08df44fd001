"""callback requests: virtual queue position, dial attempts, retry schedule, outcome (issue 6)

Revision ID: 20261123_0005
Revises: 20261123_0004
Create Date: 2026-11-23 11:50:00
"""

from __future__ import annotations

revision = "20261123_0005"
down_revision = "20261123_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
