"""`make bench-export`: how long a data-subject export stalls the event loop, with 1,000
erasure ledger entries in the tenant (issue 17, item 9).

Two exports of the same person on the same scratch database, each while a ticker task
(``sleep(0.005)`` in a loop) records the longest gap between its wake-ups:

- *old*: every ledger entry's per-entry salted digests recomputed on the event loop (as the
  exporter did before the lookup keys: about 9 ms of PBKDF2 per entry and identifier);
- *new*: the exporter as the API runs it (the person's lookup keys computed once in a worker
  thread, entries found through the index on ``subject_keys``).

Both must find exactly the person's entries. :func:`seed_ledger` and :class:`LoopWatch` are
shared with the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from sqlalchemy import func, select

from ivr.config import Settings
from recording.store import AudioStore
from retention.exporter import Exporter
from storage.contacts import Subject, digest_matches, subject_digests
from storage.db import connect, make_engine, session_factory
from storage.domain import Actor, TenantInfo, UserInfo
from storage.events import Role
from storage.ledger_keys import subject_keys
from storage.models import Erasure
from storage.passwords import Hasher
from storage.repositories._uow import transaction
from storage.repositories.audit import AuditLog
from storage.repositories.media import ListeningLog
from storage.repositories.subjects import Row, SubjectRepository, ledger_row
from storage.repositories.tenants import TenantRepository
from storage.repositories.users import UserRepository
from storage.scratch import scratch_database

T0 = datetime(2026, 6, 1, tzinfo=UTC)
PERSON = Subject.of(number="+358401234567", email="maija.m@example.fi")
_OTHERS = 10  # distinct other people in the seeded ledger


@dataclass
class LoopWatch:
    """The longest gap (seconds) beyond its own sleep between a ticker's wake-ups."""

    tick: float = 0.005
    worst: float = 0.0

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[LoopWatch]:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        async def ticker() -> None:
            last = loop.time()
            while not stop.is_set():
                await asyncio.sleep(self.tick)
                now = loop.time()
                self.worst = max(self.worst, now - last - self.tick)
                last = now

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)  # the ticker has started before the measured work
        try:
            yield self
        finally:
            stop.set()
            await task


@dataclass(frozen=True)
class Seeded:
    own: set[uuid.UUID]  # the person's entries (keyed and legacy)
    total: int


def _entry_subjects(person: Subject) -> list[Subject]:
    """The identifiers an erasure of the person may have been made with."""
    out = [person]
    if person.number and person.email:
        out += [Subject(number=person.number), Subject(email=person.email)]
    return out


async def seed_ledger(
    conn: asyncpg.Connection,
    tenant_id: uuid.UUID,
    *,
    entries: int,
    person: Subject = PERSON,
    own: int = 3,
    legacy_own: int = 0,
    legacy_others: int = 0,
) -> Seeded:
    """``entries`` ledger rows in the tenant: ``own`` (+ ``legacy_own``) of them about
    ``person``, the rest about ten other people; *legacy* rows have per-entry digests only
    (no lookup keys, as written before migration 0009). Digests are computed once per
    distinct person and reused, so seeding stays fast."""
    others = [Subject.of(number=f"+35840555{i:04d}") for i in range(_OTHERS)]
    shapes = _entry_subjects(person)
    plan: list[tuple[Subject, bool]] = [(shapes[i % len(shapes)], True) for i in range(own)]
    plan += [(shapes[i % len(shapes)], False) for i in range(legacy_own)]
    plan += [(others[i % _OTHERS], False) for i in range(legacy_others)]
    plan += [(others[i % _OTHERS], True) for i in range(entries - len(plan))]

    async def material(s: Subject) -> tuple[list[str], list[str]]:
        digests = await asyncio.to_thread(subject_digests, s)
        return digests, await asyncio.to_thread(subject_keys, tenant_id, s)

    made = {s: await material(s) for s in dict.fromkeys(s for s, _ in plan)}
    people = set(shapes)
    rows = []
    ids: set[uuid.UUID] = set()
    for n, (s, keyed) in enumerate(plan):
        eid = uuid.uuid4()
        if s in people:
            ids.add(eid)
        digests, keys = made[s]
        rows.append(
            (eid, tenant_id, T0 + timedelta(minutes=n), "system:bench", "data_subject_request",
             json.dumps({"cases": 1}), digests, keys if keyed else None)
        )  # fmt: skip
    await conn.executemany(
        "INSERT INTO erasure_ledger (id, tenant_id, performed_at, actor, basis, counts, "
        "subject_digests, subject_keys) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)",
        rows,
    )
    return Seeded(ids, len(rows))


class OnLoopSubjects(SubjectRepository):
    """The lookup as it was: every entry's digests recomputed on the event loop."""

    async def erasures(self, tenant_id: uuid.UUID, subject: Subject) -> list[Row]:
        async with transaction(self._sessions) as s:
            ledger = list(
                await s.scalars(
                    select(Erasure)
                    .where(
                        Erasure.tenant_id == tenant_id,
                        func.cardinality(Erasure.subject_digests) > 0,
                    )
                    .order_by(Erasure.performed_at)
                )
            )
        return [
            ledger_row(e)
            for e in ledger
            if any(digest_matches(d, subject) for d in e.subject_digests)
        ]


@dataclass(frozen=True)
class Measured:
    seconds: float
    worst_stall: float
    found: set[uuid.UUID]


async def _measure(exporter: Exporter, tenant: TenantInfo, out: Path, by: UserInfo) -> Measured:
    watch = LoopWatch()
    async with watch.watching():
        t0 = time.perf_counter()
        result = await exporter.export(tenant, PERSON, out, by)
        seconds = time.perf_counter() - t0
    doc = json.loads((result.bundle / "subject.json").read_text())
    return Measured(seconds, watch.worst, {uuid.UUID(e["id"]) for e in doc["erasures"]})


async def run(settings: Settings, entries: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="linja-bench-export-"))
    try:
        async with scratch_database(settings, prefix="linja_b") as db:
            conn = await connect(db)
            engine = make_engine(db, pool_size=2)
            try:
                sessions = session_factory(engine)
                tenants = TenantRepository(sessions)
                tenant = await tenants.create("bench", "Bench Oy", Actor.system("bench"))
                by = await UserRepository(sessions, Hasher.fast_for_tests()).create(
                    tenant_id=None, name="DPO", login="bench-dpo", password="bench-dpo",
                    role=Role.OPERATOR, actor=Actor.system("bench"),
                )  # fmt: skip
                seeded = await seed_ledger(conn, tenant.id, entries=entries)
                store = AudioStore(work / "store")

                def exporter(subjects: SubjectRepository) -> Exporter:
                    return Exporter(
                        subjects, ListeningLog(sessions), AuditLog(sessions), store,
                        lambda: datetime.now(UTC),
                    )  # fmt: skip

                old = await _measure(exporter(OnLoopSubjects(sessions)), tenant, work, by)
                new = await _measure(exporter(SubjectRepository(sessions)), tenant, work, by)
            finally:
                await engine.dispose()
                await conn.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for label, m in (("old", old), ("new", new)):
        if m.found != seeded.own:
            raise SystemExit(f"{label}: found {len(m.found)} entries, expected {len(seeded.own)}")
    print(f"ledger entries          {seeded.total} ({len(seeded.own)} of the person)")
    print(f"old (digests on loop)   export {old.seconds:8.3f} s  "
          f"longest loop stall {old.worst_stall * 1000:9.1f} ms")  # fmt: skip
    print(f"new (keys, index)       export {new.seconds:8.3f} s  "
          f"longest loop stall {new.worst_stall * 1000:9.1f} ms")  # fmt: skip
    print(f"ratio old/new           export {old.seconds / new.seconds:8.1f}x  "
          f"stall {old.worst_stall / max(new.worst_stall, 1e-6):9.1f}x")  # fmt: skip
    verdict = "under" if new.worst_stall < 0.050 else "NOT under"
    print(f"new longest stall {verdict} 50 ms")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m retention.bench_export", description=__doc__)
    parser.add_argument("--entries", type=int, default=1000)
    args = parser.parse_args()
    if not 10 <= args.entries <= 100_000:
        parser.error("--entries must be 10..100000")
    asyncio.run(run(Settings(), args.entries))


if __name__ == "__main__":
    main()
