"""Bulletin call counts stored once per journal segment, on the real Postgres (issue 15)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ivr.config import Settings
from storage.db import make_engine, session_factory
from storage.domain import TenantInfo
from storage.models import BulletinCounterBatch
from storage.repositories.bulletins import CounterRepository
from storage.repositories.tenants import TenantRepository

HOUR = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)


async def test_a_batch_is_added_once_and_old_batch_ids_are_pruned(
    storage_db: Settings, sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo
) -> None:
    # The owner adds numbers, and ages a batch id (the application role may not update one).
    owner = make_engine(storage_db, owner=True, pool_size=1)
    try:
        await _check(session_factory(owner), sessions, tenant)
    finally:
        await owner.dispose()


async def _check(
    owner: async_sessionmaker[AsyncSession],
    sessions: async_sessionmaker[AsyncSession],
    tenant: TenantInfo,
) -> None:
    number = await TenantRepository(owner).ensure_number(
        tenant.id, f"9{random.randrange(10**8):08d}", "bulletin"
    )
    repo = CounterRepository(sessions)
    batch, other = uuid.uuid4(), uuid.uuid4()
    assert await repo.add({(number, None, HOUR): 5}, batch)
    assert not await repo.add({(number, None, HOUR): 5}, batch)  # a replay: skipped
    assert await repo.add({(number, None, HOUR): 2}, other)
    async with sessions() as s:
        calls = await s.scalar(
            text("SELECT calls FROM bulletin_call_counters WHERE service_number_id = :n"),
            {"n": number},
        )
    assert calls == 7

    async with owner.begin() as s:  # the first batch's id is three days old
        await s.execute(
            update(BulletinCounterBatch)
            .where(BulletinCounterBatch.id == batch)
            .values(applied_at=text("now() - interval '3 days'"))
        )
    assert await repo.prune_batches() >= 1
    async with sessions() as s:
        left = set(await s.scalars(text("SELECT id FROM bulletin_counter_batches")))
    assert batch not in left and other in left
