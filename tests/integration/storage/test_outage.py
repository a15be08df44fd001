"""Postgres stops in the middle of a burst of 1,000 cases and comes back: every case is
written exactly once, nothing is dropped.

Stopping the cluster affects every database in it, so the outage is kept to a few seconds
and the cluster is always started again in ``finally``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr.config import Settings
from ivr.stack.postgres import PgCluster
from storage.casewriter import PgCaseWriter
from storage.db import connect, make_engine, session_factory
from storage.events import CaseEnded, CaseOpened, CaseQueued, Channel, Outcome, ServiceStarted
from storage.recorder import CaseRecorder
from storage.repositories.tenants import TenantRepository
from storage.scratch import create_database, drop_database
from storage.spool import Spool
from tests.integration.storage.conftest import ADMIN

pytestmark = pytest.mark.integration

CASES = 1000
LAG = 100  # a case ends 100 cases after it opened: many span the outage


async def test_postgres_outage_during_a_burst(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cluster = PgCluster(settings)
    assert cluster.status().running, "the stack's Postgres must be running (`linja stack up`)"
    scratch = await create_database(settings, prefix="linja_to")
    engine = make_engine(scratch, pool_size=2)
    try:
        tenant = await TenantRepository(session_factory(engine)).create(
            f"outage-{uuid.uuid4().hex[:6]}", "Outage Oy", ADMIN
        )
        recorder = CaseRecorder(
            PgCaseWriter(engine),
            Spool(tmp_path / "spool", settings.spool_max_bytes),
            batch_size=200,
            retry_initial=0.1,
            retry_max=0.5,
            write_timeout=5,
        )
        await recorder.start()
        ids = [uuid.uuid4() for _ in range(CASES)]
        t0 = datetime.now(UTC)
        outage: list[asyncio.Task[None]] = []

        def end(i: int) -> None:
            at = t0 + timedelta(seconds=i + 30)
            recorder.emit(CaseEnded(ids[i], Outcome.ANSWERED if i % 3 else Outcome.ABANDONED, at))

        with caplog.at_level(logging.WARNING, logger="storage.recorder"):
            for i, cid in enumerate(ids):
                at = t0 + timedelta(seconds=i)
                recorder.emit(CaseOpened(cid, tenant.id, Channel.PHONE, at, "0201", f"+358{i}"))
                recorder.emit(CaseQueued(cid, "support", at + timedelta(seconds=1)))
                if i % 3:
                    recorder.emit(ServiceStarted(cid, at + timedelta(seconds=5)))
                if i >= LAG:
                    end(i - LAG)
                if i == 300:
                    outage.append(asyncio.create_task(asyncio.to_thread(cluster.stop)))
                if i == 700:
                    await outage.pop()
                    assert not cluster.status().running
                    outage.append(asyncio.create_task(asyncio.to_thread(cluster.start)))
                await asyncio.sleep(0.002)
            for i in range(CASES - LAG, CASES):
                end(i)
            if outage:
                await outage.pop()
            await recorder.close()
        stats = recorder.stats()
    finally:
        if not cluster.status().running:
            await asyncio.to_thread(cluster.start)
        await engine.dispose()

    try:
        assert stats.db_failures > 0 and stats.spooled > 0, "the outage did not happen"
        assert stats.dropped == 0 and stats.rejected == 0
        assert stats.spool_bytes == 0 and stats.replayed > 0
        assert "database unavailable" in caplog.text
        conn = await connect(scratch, "owner")
        try:
            rows = await conn.fetch("SELECT id, outcome, queue_wait FROM cases")
            entries = await conn.fetchval("SELECT count(*) FROM queue_entries")
        finally:
            await conn.close()
        assert len(rows) == CASES
        assert {r["id"] for r in rows} == set(ids)  # each case once
        assert all(r["outcome"] is not None for r in rows)  # the final state of each
        assert all(r["queue_wait"] is not None for r in rows)
        assert entries == CASES
    finally:
        await drop_database(scratch)
