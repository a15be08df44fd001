"""the app may delete a service number (issue 13: `linja number remove`, DELETE /api/numbers)

Only numbers without history are deleted (the repository checks; the foreign keys of
bulletins and call counters, ON DELETE RESTRICT, refuse the rest).

Revision ID: 20261201_0012
Revises: 20261201_0011
Create Date: 2026-12-01 13:00:00
"""

from __future__ import annotations

from alembic import op

from storage.roles import app_role

revision = "20261201_0012"
down_revision = "20261201_0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(f"GRANT DELETE ON service_numbers TO {app_role()}")


def downgrade() -> None:
    op.execute(f"REVOKE DELETE ON service_numbers FROM {app_role()}")
