"""transcripts: per-tenant switch and retention, durable jobs queued by a trigger, redacted
transcript rows, reading a transcript in the listening log (issue 18)

Revision ID: 20261201_0017
Revises: 20261201_0016
Create Date: 2026-12-01 16:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from storage.roles import app_role

revision = "20261201_0017"
down_revision = "20261201_0016"
branch_labels = None
depends_on = None

JOB_STATES = "'queued', 'running', 'waiting', 'done', 'failed', 'cancelled'"
ONE_AUDIO = "num_nonnulls(recording_id, voice_message_id) = 1"
KINDS_BEFORE = "event_type IN ('play', 'download', 'export')"
KINDS_AFTER = "event_type IN ('play', 'download', 'export', 'transcript')"

# A completed recording or voice message of a tenant with transcripts on gets its job in the
# same transaction as its row, whichever path wrote the row (recorder, spool replay,
# callbacks, crash recovery).
ENQUEUE = """
CREATE FUNCTION linja_enqueue_transcription() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'completed' AND EXISTS (
        SELECT 1 FROM tenants WHERE id = NEW.tenant_id AND transcripts_enabled
    ) THEN
        IF TG_TABLE_NAME = 'recordings' THEN
            INSERT INTO transcription_jobs (id, tenant_id, case_id, recording_id)
            VALUES (gen_random_uuid(), NEW.tenant_id, NEW.case_id, NEW.id)
            ON CONFLICT DO NOTHING;
        ELSE
            INSERT INTO transcription_jobs (id, tenant_id, case_id, voice_message_id)
            VALUES (gen_random_uuid(), NEW.tenant_id, NEW.case_id, NEW.id)
            ON CONFLICT DO NOTHING;
        END IF;
    END IF;
    RETURN NEW;
END $$;
"""


def _audio_refs() -> list[sa.Column[object]]:
    return [
        sa.Column("recording_id", sa.Uuid(), nullable=True),
        sa.Column("voice_message_id", sa.Uuid(), nullable=True),
    ]


def _refs(table: str) -> list[sa.ForeignKeyConstraint]:
    return [
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f(f"fk_{table}_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f(f"fk_{table}_case_id_cases"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f(f"fk_{table}_recording_id_recordings"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["voice_message_id"],
            ["voice_messages.id"],
            name=op.f(f"fk_{table}_voice_message_id_voice_messages"),
            ondelete="RESTRICT",
        ),
    ]


def upgrade() -> None:
    role = app_role()
    op.add_column(
        "tenants",
        sa.Column("transcripts_enabled", sa.Boolean(), server_default="false", nullable=False),
    )
    op.add_column(
        "tenants",
        sa.Column(
            "transcript_retention",
            sa.Interval(),
            server_default=sa.text("interval '12 months'"),
            nullable=False,
        ),
    )
    op.create_check_constraint(
        op.f("ck_tenants_transcript_retention_range"),
        "tenants",
        "transcript_retention >= interval '1 day' AND transcript_retention <= interval '36 months'",
    )
    op.execute(f"GRANT UPDATE (transcripts_enabled, transcript_retention) ON tenants TO {role}")

    op.create_table(
        "transcription_jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        *_audio_refs(),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'queued'"), nullable=False
        ),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            f"status IN ({JOB_STATES})", name=op.f("ck_transcription_jobs_status_known")
        ),
        sa.CheckConstraint(ONE_AUDIO, name=op.f("ck_transcription_jobs_one_audio")),
        sa.CheckConstraint(
            "attempts >= 0", name=op.f("ck_transcription_jobs_attempts_nonnegative")
        ),
        *_refs("transcription_jobs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcription_jobs")),
        sa.UniqueConstraint("recording_id", name=op.f("uq_transcription_jobs_recording_id")),
        sa.UniqueConstraint(
            "voice_message_id", name=op.f("uq_transcription_jobs_voice_message_id")
        ),
    )
    op.create_index(op.f("ix_transcription_jobs_case_id"), "transcription_jobs", ["case_id"])
    op.create_index(
        op.f("ix_transcription_jobs_created_at"),
        "transcription_jobs",
        ["created_at"],
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )

    op.create_table(
        "transcripts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        *_audio_refs(),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("language_detected", sa.Boolean(), nullable=False),
        sa.Column("engine", sa.String(length=100), nullable=False),
        sa.Column("model_sha256", sa.String(length=64), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("audio_seconds", sa.Float(), nullable=False),
        sa.Column("processing_seconds", sa.Float(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column(
            "redactions",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(ONE_AUDIO, name=op.f("ck_transcripts_one_audio")),
        sa.CheckConstraint(
            "language IN ('fi', 'sv', 'en') OR language ~ '^[a-z]{2,3}$'",
            name=op.f("ck_transcripts_language_code"),
        ),
        sa.CheckConstraint(
            "confidence >= 0 AND confidence <= 1", name=op.f("ck_transcripts_confidence_range")
        ),
        sa.CheckConstraint(
            "model_sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_transcripts_model_sha256_hex")
        ),
        sa.CheckConstraint(
            "jsonb_typeof(redactions) = 'object'", name=op.f("ck_transcripts_redactions_object")
        ),
        *_refs("transcripts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcripts")),
        sa.UniqueConstraint("recording_id", name=op.f("uq_transcripts_recording_id")),
        sa.UniqueConstraint("voice_message_id", name=op.f("uq_transcripts_voice_message_id")),
    )
    op.create_index(op.f("ix_transcripts_case_id"), "transcripts", ["case_id"])
    op.create_index(
        op.f("ix_transcripts_tenant_id_created_at"), "transcripts", ["tenant_id", "created_at"]
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON transcription_jobs, transcripts TO {role}")

    op.execute(ENQUEUE)
    for table in ("recordings", "voice_messages"):
        op.execute(
            f"CREATE TRIGGER {table}_enqueue_transcription AFTER INSERT ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION linja_enqueue_transcription()"
        )

    op.drop_constraint(
        op.f("ck_listening_events_event_type_known"), "listening_events", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_listening_events_event_type_known"), "listening_events", KINDS_AFTER
    )


def downgrade() -> None:
    role = app_role()
    op.drop_constraint(
        op.f("ck_listening_events_event_type_known"), "listening_events", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_listening_events_event_type_known"), "listening_events", KINDS_BEFORE
    )
    for table in ("recordings", "voice_messages"):
        op.execute(f"DROP TRIGGER {table}_enqueue_transcription ON {table}")
    op.execute("DROP FUNCTION linja_enqueue_transcription()")
    op.execute(f"REVOKE ALL ON transcription_jobs, transcripts FROM {role}")
    op.drop_table("transcripts")
    op.drop_table("transcription_jobs")
    op.execute(f"REVOKE UPDATE (transcripts_enabled, transcript_retention) ON tenants FROM {role}")
    op.drop_constraint(op.f("ck_tenants_transcript_retention_range"), "tenants", type_="check")
    op.drop_column("tenants", "transcript_retention")
    op.drop_column("tenants", "transcripts_enabled")
