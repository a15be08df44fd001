"""Controller heartbeats and lost nodes' cases on the real Postgres (issue 19), and the
cluster-wide one-at-a-time locks of the sweeper and the transcription worker."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ivr.features.transcripts.feature import TRANSCRIBE_LOCK
from storage.advisory import TryLock, key
from storage.casewriter import PgCaseWriter
from storage.domain import TenantInfo
from storage.events import CaseEnded, CaseOpened, CaseQueued, Channel, Outcome
from storage.repositories._uow import transaction
from storage.repositories.case_takeover import CaseTakeover
from storage.repositories.controllers import ControllerRepository
from storage.repositories.sweep import SweepLock
from storage.timing import CaseState, apply

pytestmark = pytest.mark.integration

DOWN_AFTER = 1.0


def _snapshot(tenant: TenantInfo, *events: object) -> CaseState:
    state: CaseState | None = None
    for e in events:
        state = apply(state, e)  # type: ignore[arg-type]
    assert state is not None
    return state


async def _case(sessions: async_sessionmaker[AsyncSession], case_id: uuid.UUID) -> dict:
    async with transaction(sessions) as s:
        row = (
            await s.execute(
                text(
                    "SELECT c.outcome, c.ended_at, c.controller_id, c.total_time, q.exit_reason,"
                    " q.left_at, q.wait FROM cases c LEFT JOIN queue_entries q"
                    " ON q.case_id = c.id WHERE c.id = :id"
                ),
                {"id": case_id},
            )
        ).one()
    return dict(row._mapping)


async def test_a_down_controllers_open_cases_end_node_lost_once_and_a_late_write_wins(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo
) -> None:
    lost, alive = f"lost:{uuid.uuid4().hex[:8]}", f"alive:{uuid.uuid4().hex[:8]}"
    repo = ControllerRepository(sessions, down_after=DOWN_AFTER)
    await repo.register(lost, "127.0.0.3")
    await repo.register(alive, "127.0.0.2")
    now = datetime.now(UTC)
    waiting, mine = uuid.uuid4(), uuid.uuid4()
    opened = CaseOpened(waiting, tenant.id, Channel.PHONE, now - timedelta(seconds=5), "200")
    queued = CaseQueued(waiting, "support", now - timedelta(seconds=3))
    await PgCaseWriter(engine, lost).write([_snapshot(tenant, opened, queued)])
    await PgCaseWriter(engine, alive).write(
        [_snapshot(tenant, CaseOpened(mine, tenant.id, Channel.PHONE, now, "200"))]
    )
    # The lost controller is not down yet: nothing is ended.
    assert [c for c in await repo.end_lost_cases(alive) if c.case_id == waiting] == []
    assert [n.up for n in await repo.nodes() if n.id == lost] == [True]

    await asyncio.sleep(DOWN_AFTER + 0.3)  # the lost one's beat gets old; the alive one beats
    await repo.beat(alive, "127.0.0.2")
    ended = [c for c in await repo.end_lost_cases(alive) if c.case_id in (waiting, mine)]
    assert [(c.case_id, c.controller) for c in ended] == [(waiting, lost)]
    row = await _case(sessions, waiting)
    assert (row["outcome"], row["exit_reason"]) == ("node_lost", "node_lost")
    assert row["left_at"] == row["ended_at"] >= now - timedelta(seconds=3)
    assert row["wait"] == row["ended_at"] - (now - timedelta(seconds=3))
    assert row["total_time"] == row["ended_at"] - (now - timedelta(seconds=5))
    assert (await _case(sessions, mine))["ended_at"] is None  # the alive one's case stays
    assert [c for c in await repo.end_lost_cases(alive) if c.case_id == waiting] == []  # once
    views = {n.id: n for n in await repo.nodes() if n.id in (lost, alive)}
    assert (views[lost].up, views[alive].up) == (False, True)
    assert views[lost].silent >= DOWN_AFTER

    # The "lost" controller was only slow: its recorder's real end wins over node_lost.
    late = _snapshot(tenant, opened, queued, CaseEnded(waiting, Outcome.ABANDONED, now))
    await PgCaseWriter(engine, lost).write([late])
    assert (await _case(sessions, waiting))["outcome"] == "abandoned"


async def test_a_stopped_controller_is_down_at_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    me = f"stops:{uuid.uuid4().hex[:8]}"
    repo = ControllerRepository(sessions, down_after=3600)
    await repo.register(me, "127.0.0.9")
    await repo.stop(me)
    (view,) = [n for n in await repo.nodes() if n.node == "127.0.0.9"]
    assert (view.id, view.up, view.stopped_at is not None) == (me, False, True)


async def test_a_second_sweep_or_transcription_slot_holder_is_refused(
    engine: AsyncEngine,
) -> None:
    """Two controllers (two engines' connections) on one database: while one holds the lock
    the other is refused at once; once released, the other gets it."""
    for first, second in (
        (SweepLock(engine), SweepLock(engine)),
        (
            TryLock(engine, key(TRANSCRIBE_LOCK, 0)),
            TryLock(engine, key(TRANSCRIBE_LOCK, 0)),
        ),
    ):
        async with first.hold() as got:
            assert got
            async with second.hold() as other:
                assert not other
            # Slot 1 is another lock: a second worker per controller is not refused by it.
            async with TryLock(engine, key(TRANSCRIBE_LOCK, 1)).hold() as slot1:
                assert slot1
        async with second.hold() as other:
            assert other


async def test_a_restarted_controller_takes_its_predecessors_case_over_before_it_ends_lost(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo
) -> None:
    """Same node: the old controller's cases are spared while its successor is new (it may
    adopt their calls); the one it takes over is its own (never node_lost), comes back with
    its queue stay, and what it did not take is ended node_lost once the spare is over."""
    old, new = f"old:{uuid.uuid4().hex[:8]}", f"new:{uuid.uuid4().hex[:8]}"
    repo = ControllerRepository(sessions, down_after=DOWN_AFTER, adopt_within=2.0)
    await repo.register(old, "127.0.0.5")
    now = datetime.now(UTC)
    adopted, gone = uuid.uuid4(), uuid.uuid4()
    for cid in (adopted, gone):
        opened = CaseOpened(cid, tenant.id, Channel.PHONE, now - timedelta(seconds=5), "200")
        queued = CaseQueued(cid, "support", now - timedelta(seconds=3))
        await PgCaseWriter(engine, old).write([_snapshot(tenant, opened, queued)])
    await asyncio.sleep(DOWN_AFTER + 0.3)  # the old one is down; its successor starts
    await repo.register(new, "127.0.0.5")
    assert [c for c in await repo.end_lost_cases(new) if c.case_id in (adopted, gone)] == []
    state = await CaseTakeover(sessions, new).take(adopted)
    assert state is not None and not state.ended and state.started_at == now - timedelta(seconds=5)
    assert [(q.seq, q.queue, q.left_at) for q in state.queue_stays] == [(0, "support", None)]
    assert (await _case(sessions, adopted))["controller_id"] == new
    await asyncio.sleep(2.0)  # the spare is over
    await repo.beat(new, "127.0.0.5")
    ended = [c.case_id for c in await repo.end_lost_cases(new) if c.case_id in (adopted, gone)]
    assert ended == [gone]
    assert (await _case(sessions, adopted))["ended_at"] is None
    late = await CaseTakeover(sessions, new).take(gone)  # ended: comes back ended, not taken
    assert late is not None and late.ended and late.outcome is Outcome.NODE_LOST
