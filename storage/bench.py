"""`make bench-storage`: cases per second through the case recorder, against a bare asyncpg
``copy_records_to_table`` of the same rows measured in the same run (the ratio is the figure
to compare between machines).

Started by ``python -m ivr.storage_bench`` (it passes the service's settings in: storage
never imports ``ivr``). Runs in a scratch database it creates and drops; bounded by
``--cases`` (default 20,000). The recorder figure is end to end: from the first event
emitted to ``close()`` returning with every case upserted (case row + queue entry), as the
controller would drive it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from storage.casewriter import PgCaseWriter, rows
from storage.db import connect, make_engine, session_factory
from storage.domain import Actor
from storage.events import CaseEnded, CaseOpened, CaseQueued, Channel, Outcome, ServiceStarted
from storage.passwords import Hasher
from storage.recorder import CaseRecorder
from storage.repositories.tenants import TenantRepository
from storage.repositories.users import UserRepository
from storage.scratch import scratch_database
from storage.settings import DatabaseSettings, ScratchSettings, SpoolSettings
from storage.spool import Spool
from storage.timing import CaseState, apply

log = logging.getLogger(__name__)


class BenchSettings(ScratchSettings, SpoolSettings, Protocol):
    """A scratch database and the spool's size limit."""


def _events(
    n: int, tenant_id: uuid.UUID, agent_id: uuid.UUID
) -> list[tuple[CaseOpened, CaseQueued, ServiceStarted | None, CaseEnded]]:
    t0 = datetime.now(UTC) - timedelta(hours=1)
    out = []
    for i in range(n):
        cid = uuid.uuid4()
        at = t0 + timedelta(milliseconds=i * 50)
        served = i % 4 != 0
        out.append(
            (
                CaseOpened(cid, tenant_id, Channel.PHONE, at, "0201234567", f"+35840{i:07d}"),
                CaseQueued(cid, "support", at + timedelta(seconds=2)),
                ServiceStarted(cid, at + timedelta(seconds=20), agent_id) if served else None,
                CaseEnded(
                    cid,
                    Outcome.ANSWERED if served else Outcome.ABANDONED,
                    at + timedelta(seconds=95),
                ),
            )
        )
    return out


async def _count(settings: DatabaseSettings) -> tuple[int, int]:
    conn = await connect(settings)
    try:
        cases = await conn.fetchval("SELECT count(*) FROM cases")
        entries = await conn.fetchval("SELECT count(*) FROM queue_entries")
        return int(cases), int(entries)
    finally:
        await conn.close()


async def run(settings: BenchSettings, cases: int, batch_size: int) -> None:
    async with scratch_database(settings, prefix="linja_b") as db:
        engine = make_engine(db, pool_size=2)
        try:
            sessions = session_factory(engine)
            system = Actor.system("bench")
            tenant = await TenantRepository(sessions).create("bench", "Bench Oy", system)
            agent = await UserRepository(sessions, Hasher.fast_for_tests()).create(
                tenant_id=tenant.id,
                name="Bench Agent",
                login="bench-agent",
                password="bench",
                role="team",
                actor=system,
            )
            script = _events(cases, tenant.id, agent.id)
            events = sum(4 if s is not None else 3 for _, _, s, _ in script)

            with tempfile.TemporaryDirectory() as spool_dir:
                recorder = CaseRecorder(
                    PgCaseWriter(engine),
                    Spool(Path(spool_dir), settings.spool_max_bytes),
                    batch_size=batch_size,
                    max_pending=max(50_000, cases),
                )
                await recorder.start()
                started = time.perf_counter()
                for i, (opened, queued, served, ended) in enumerate(script):
                    recorder.emit(opened)
                    recorder.emit(queued)
                    if served is not None:
                        recorder.emit(served)
                    recorder.emit(ended)
                    if i % 200 == 199:
                        await asyncio.sleep(0)  # a controller yields between events
                await recorder.close()
                rec_seconds = time.perf_counter() - started
                stats = recorder.stats()
        finally:
            await engine.dispose()
        written = await _count(db)
        if written != (cases, cases) or stats.dropped or stats.spooled:
            raise SystemExit(f"recorder run incomplete: {written} rows, {stats}")

        # Baseline: the very same rows, COPY'd by bare asyncpg into the emptied tables.
        states: list[CaseState] = []
        for opened, queued, served, ended in script:
            state = apply(apply(None, opened), queued)
            if served is not None:
                state = apply(state, served)
            states.append(apply(state, ended))
        batch = rows(states)
        owner = await connect(db, "owner")
        try:
            await owner.execute("DELETE FROM queue_entries; DELETE FROM cases")
            await owner.execute("VACUUM queue_entries, cases")
        finally:
            await owner.close()
        app = await connect(db)
        try:
            case_cols = list(batch["cases"][0])
            queue_cols = list(batch["queue"][0])
            case_records = [tuple(r[c] for c in case_cols) for r in batch["cases"]]
            queue_records = [tuple(r[c] for c in queue_cols) for r in batch["queue"]]
            started = time.perf_counter()
            async with app.transaction():
                await app.copy_records_to_table("cases", records=case_records, columns=case_cols)
                await app.copy_records_to_table(
                    "queue_entries", records=queue_records, columns=queue_cols
                )
            copy_seconds = time.perf_counter() - started
        finally:
            await app.close()
        if await _count(db) != (cases, cases):
            raise SystemExit("baseline copy incomplete")

    rec_rate = cases / rec_seconds
    copy_rate = cases / copy_seconds
    print(
        f"storage bench: {cases} cases ({events} events), "
        f"Postgres {settings.db_host}:{settings.pg_port}"
    )
    print(
        f"  recorder (emit -> close, upsert batches of {batch_size}): "
        f"{rec_seconds:6.2f} s  {rec_rate:9.0f} cases/s  "
        f"({stats.written} snapshots in {cases} case rows + {cases} queue rows)"
    )
    print(
        f"  baseline asyncpg copy_records_to_table, same rows:    "
        f"{copy_seconds:6.2f} s  {copy_rate:9.0f} cases/s"
    )
    print(f"  ratio recorder / copy: {rec_rate / copy_rate:.2f}")


def main(settings: Callable[[], BenchSettings]) -> None:
    """The command line; ``settings`` builds the settings once the arguments are valid."""
    parser = argparse.ArgumentParser(prog="python -m ivr.storage_bench", description=__doc__)
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()
    if not 1 <= args.cases <= 1_000_000:
        parser.error("--cases must be 1..1000000")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(run(settings(), args.cases, args.batch_size))
