"""contact-request intake: idempotency keys for SMS/e-mail/chat/web webhooks (issue 6)

Revision ID: 20261123_0007
Revises: 20261123_0006
Create Date: 2026-11-23 11:50:00
"""

from __future__ import annotations

revision = "20261123_0007"
down_revision = "20261123_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
