"""platform operators as their own role; a time zone per tenant (issue 13)

Users without a tenant were admins; they become ``operator`` (the platform's staff, above
tenants), and the constraint now says both ways: no tenant exactly when the role is operator.
Tenants get an IANA ``time_zone`` (default Europe/Helsinki) that the app may update.

Revision ID: 20261201_0010
Revises: 20261201_0009
Create Date: 2026-12-01 12:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.roles import app_role

revision = "20261201_0010"
down_revision = "20261201_0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint(op.f("ck_users_tenant_or_platform"), "users", type_="check")
    op.drop_constraint(op.f("ck_users_role_known"), "users", type_="check")
    op.execute("UPDATE users SET role = 'operator' WHERE tenant_id IS NULL")
    op.create_check_constraint(
        op.f("ck_users_role_known"), "users", "role IN ('operator', 'admin', 'team', 'external')"
    )
    op.create_check_constraint(
        op.f("ck_users_tenant_or_platform"), "users", "(tenant_id IS NULL) = (role = 'operator')"
    )
    op.add_column(
        "tenants",
        sa.Column(
            "time_zone", sa.String(length=64), server_default="Europe/Helsinki", nullable=False
        ),
    )
    op.execute(f"GRANT UPDATE (time_zone) ON tenants TO {app_role()}")


def downgrade() -> None:
    op.execute(f"REVOKE UPDATE (time_zone) ON tenants FROM {app_role()}")
    op.drop_column("tenants", "time_zone")
    op.drop_constraint(op.f("ck_users_tenant_or_platform"), "users", type_="check")
    op.drop_constraint(op.f("ck_users_role_known"), "users", type_="check")
    op.execute("UPDATE users SET role = 'admin' WHERE role = 'operator'")
    op.create_check_constraint(
        op.f("ck_users_role_known"), "users", "role IN ('admin', 'team', 'external')"
    )
    op.create_check_constraint(
        op.f("ck_users_tenant_or_platform"), "users", "tenant_id IS NOT NULL OR role = 'admin'"
    )
