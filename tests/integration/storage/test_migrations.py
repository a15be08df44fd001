"""Migrations build the schema from empty, match the models, and go back down to nothing."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from ivr.config import Settings
from storage.db import connect, database_url
from storage.migrate import downgrade, upgrade
from storage.models import Base

pytestmark = pytest.mark.integration

TABLES = {
    "tenants", "service_numbers", "bulletins", "bulletin_call_counters", "users",
    "staff_groups", "staff_group_members", "cases", "queue_entries", "contact_requests",
    "recordings", "voice_messages", "listening_events", "audit_log", "erasure_ledger",
    "subject_restrictions", "callback_attempts", "intake_tokens", "phone_login_locks",
    "web_sessions", "api_tokens", "callouts", "callout_members", "callout_attempts",
    "agent_states", "case_events", "queue_waiting", "queue_rings", "queue_departures",
    "controllers", "bulletin_counter_batches",
    "transcription_jobs", "transcripts",
}  # fmt: skip


async def tables(settings: Settings) -> set[str]:
    conn = await connect(settings, "owner")
    try:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'"
        )
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


def _diff(sync_conn: Connection) -> list[object]:
    ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})
    return list(compare_metadata(ctx, Base.metadata))


async def test_upgrade_from_empty_and_downgrade_to_base(empty_db: Settings) -> None:
    url = database_url(empty_db, owner=True)
    assert await tables(empty_db) == set()

    await asyncio.to_thread(upgrade, url, "head")
    assert await tables(empty_db) == TABLES

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []  # models and migrations agree
    finally:
        await engine.dispose()

    await asyncio.to_thread(downgrade, url, "20261122_0001")
    assert await tables(empty_db) == {
        "tenants", "service_numbers", "bulletins", "bulletin_call_counters"
    }  # fmt: skip

    await asyncio.to_thread(downgrade, url, "base")
    assert await tables(empty_db) == set()
    conn = await connect(empty_db, "owner")
    try:
        assert await conn.fetchval("SELECT count(*) FROM pg_proc WHERE proname LIKE 'linja_%'") == 0
    finally:
        await conn.close()

    await asyncio.to_thread(upgrade, url, "head")  # and up again
    assert await tables(empty_db) == TABLES
