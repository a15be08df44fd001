"""queue exit `overflowed` (refused on entry); the case list's keyset index (issue 14)

A caller the queue refuses (no agent logged in, queue full) leaves with exit ``overflowed``
(it was recorded as ``abandoned``); ``timeout`` (max_wait) existed already. The case list
(``GET /api/cases``) pages newest first by (started_at, id) within a tenant: the index on
(tenant_id, started_at) becomes (tenant_id, started_at, id), which serves both.

Revision ID: 20261201_0014
Revises: 20261201_0013
Create Date: 2026-12-01 13:00:00
"""

from __future__ import annotations

from alembic import op

revision = "20261201_0014"
down_revision = "20261201_0013"
branch_labels = None
depends_on = None

_BEFORE = (
    "served",
    "abandoned",
    "callback",
    "voicemail",
    "timeout",
    "transferred",
    "closed",
    "failed",
)
_AFTER = (*_BEFORE, "overflowed")


def _check(values: tuple[str, ...]) -> str:
    return "exit_reason IS NULL OR exit_reason IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_queue_entries_exit_known"), "queue_entries", type_="check")
    op.create_check_constraint(op.f("ck_queue_entries_exit_known"), "queue_entries", _check(_AFTER))
    op.create_index(
        op.f("ix_cases_tenant_id_started_at_id"), "cases", ["tenant_id", "started_at", "id"]
    )
    op.drop_index(op.f("ix_cases_tenant_id_started_at"), table_name="cases")


def downgrade() -> None:
    op.create_index(op.f("ix_cases_tenant_id_started_at"), "cases", ["tenant_id", "started_at"])
    op.drop_index(op.f("ix_cases_tenant_id_started_at_id"), table_name="cases")
    op.execute(
        "UPDATE queue_entries SET exit_reason = 'abandoned' WHERE exit_reason = 'overflowed'"
    )
    op.drop_constraint(op.f("ck_queue_entries_exit_known"), "queue_entries", type_="check")
    op.create_check_constraint(
        op.f("ck_queue_entries_exit_known"), "queue_entries", _check(_BEFORE)
    )
