"""callback requests: virtual queue position, dial attempts, retry schedule, outcome (issue 6)

``contact_requests`` gains the dialer's columns: ``queue_entered_at`` (the caller's place in
the queue), ``next_attempt_at`` (not dialled before; NULL = due now), ``outcome`` and the
lease of the controller dialling it (``dialing_by``, ``dialing_since``). ``callback_attempts``
keeps every dial attempt (request id, attempt number, agent, times, result).

Revision ID: 20261123_0005
Revises: 20261123_0004
Create Date: 2026-11-23 11:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from storage.roles import app_role

revision = "20261123_0005"
down_revision = "20261123_0004"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_OUTCOMES = "'answered', 'gave_up', 'cancelled', 'restricted'"
_RESULTS = "'answered', 'no_answer', 'busy', 'failed', 'agent_no_answer', 'interrupted'"


def upgrade() -> None:
    op.add_column("contact_requests", sa.Column("queue_entered_at", _TS, nullable=True))
    op.add_column("contact_requests", sa.Column("next_attempt_at", _TS, nullable=True))
    op.add_column("contact_requests", sa.Column("outcome", sa.String(16), nullable=True))
    op.add_column("contact_requests", sa.Column("dialing_by", sa.String(64), nullable=True))
    op.add_column("contact_requests", sa.Column("dialing_since", _TS, nullable=True))
    op.create_check_constraint(
        op.f("ck_contact_requests_outcome_known"),
        "contact_requests",
        f"outcome IS NULL OR outcome IN ({_OUTCOMES})",
    )
    op.create_check_constraint(
        op.f("ck_contact_requests_lease_has_time"),
        "contact_requests",
        "(dialing_by IS NULL) = (dialing_since IS NULL)",
    )
    op.create_index(
        op.f("ix_contact_requests_queue_status_next_attempt_at"),
        "contact_requests",
        ["queue", "status", "next_attempt_at"],
    )
    op.create_table(
        "callback_attempts",
        sa.Column("request_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("attempt_no", sa.Integer(), nullable=False),
        sa.Column("agent_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("agent_login", sa.String(64), nullable=True),
        sa.Column("controller", sa.String(64), nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("answered_at", _TS, nullable=True),
        sa.Column("ended_at", _TS, nullable=True),
        sa.Column("result", sa.String(16), nullable=True),
        sa.CheckConstraint(
            "attempt_no >= 1", name=op.f("ck_callback_attempts_attempt_no_positive")
        ),
        sa.CheckConstraint(
            f"result IS NULL OR result IN ({_RESULTS})",
            name=op.f("ck_callback_attempts_result_known"),
        ),
        sa.CheckConstraint(
            "(ended_at IS NULL) = (result IS NULL)",
            name=op.f("ck_callback_attempts_ended_has_result"),
        ),
        sa.CheckConstraint(
            "ended_at IS NULL OR ended_at >= started_at",
            name=op.f("ck_callback_attempts_end_after_start"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["contact_requests.id"],
            name=op.f("fk_callback_attempts_request_id_contact_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["users.id"],
            name=op.f("fk_callback_attempts_agent_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("request_id", "attempt_no", name=op.f("pk_callback_attempts")),
    )
    op.create_index(
        op.f("ix_callback_attempts_agent_id"), "callback_attempts", ["agent_id"], unique=False
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON callback_attempts TO {app_role()}")


def downgrade() -> None:
    op.execute(f"REVOKE ALL ON callback_attempts FROM {app_role()}")
    op.drop_index(op.f("ix_callback_attempts_agent_id"), table_name="callback_attempts")
    op.drop_table("callback_attempts")
    op.drop_index(
        op.f("ix_contact_requests_queue_status_next_attempt_at"), table_name="contact_requests"
    )
    op.drop_constraint(
        op.f("ck_contact_requests_lease_has_time"), "contact_requests", type_="check"
    )
    op.drop_constraint(op.f("ck_contact_requests_outcome_known"), "contact_requests", type_="check")
    for column in ("dialing_since", "dialing_by", "outcome", "next_attempt_at", "queue_entered_at"):
        op.drop_column("contact_requests", column)
