"""The recorder against a scripted writer: batching, outage spooling, ordered replay, loud
drops. The real database is in tests/integration/storage."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.codec import encode_state
from storage.events import CaseEnded, CaseOpened, CaseQueued, Channel, Outcome, ServiceStarted
from storage.recorder import CaseRecorder, Rejected
from storage.spool import Spool
from storage.timing import CaseState

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
TENANT = uuid.UUID(int=7)


class FakeWriter:
    """Keeps the latest snapshot per case; can be switched down; can refuse cases."""

    def __init__(self) -> None:
        self.up = True
        self.rows: dict[uuid.UUID, CaseState] = {}
        self.calls: list[list[uuid.UUID]] = []
        self.refuse: set[uuid.UUID] = set()

    async def write(self, states: Sequence[CaseState]) -> list[Rejected]:
        await asyncio.sleep(0)
        if not self.up:
            raise ConnectionRefusedError("database down")
        self.calls.append([s.case_id for s in states])
        rejected = []
        for s in states:
            if s.case_id in self.refuse:
                rejected.append(Rejected(s, "violates check constraint"))
            else:
                self.rows[s.case_id] = s
        return rejected


def make(
    tmp_path: Path, writer: FakeWriter, *, spool_bytes: int = 10**7, max_pending: int = 50_000
) -> CaseRecorder:
    return CaseRecorder(
        writer,
        Spool(tmp_path, spool_bytes),
        max_pending=max_pending,
        linger=0.001,
        retry_initial=0.01,
        retry_max=0.05,
    )


def whole_case(rec: CaseRecorder, cid: uuid.UUID, offset: float = 0) -> None:
    t = T0 + timedelta(seconds=offset)
    rec.emit(CaseOpened(cid, TENANT, Channel.PHONE, t, caller_number="+358401"))
    rec.emit(CaseQueued(cid, "q", t + timedelta(seconds=1)))
    rec.emit(ServiceStarted(cid, t + timedelta(seconds=4)))
    rec.emit(CaseEnded(cid, Outcome.ANSWERED, t + timedelta(seconds=10)))


async def test_a_burst_coalesces_into_few_writes(tmp_path: Path) -> None:
    writer = FakeWriter()
    rec = make(tmp_path, writer)
    await rec.start()
    ids = [uuid.uuid4() for _ in range(1200)]
    for cid in ids:
        whole_case(rec, cid)
    await rec.close()
    assert set(writer.rows) == set(ids)
    assert all(s.ended for s in writer.rows.values())
    assert sum(len(c) for c in writer.calls) == 1200  # one write per case
    assert rec.stats().written == 1200 and rec.stats().dropped == 0


async def test_outage_spools_then_replays_in_order_without_loss(tmp_path: Path) -> None:
    writer = FakeWriter()
    rec = make(tmp_path, writer)
    await rec.start()
    first = [uuid.uuid4() for _ in range(50)]
    for cid in first:
        rec.emit(CaseOpened(cid, TENANT, Channel.PHONE, T0))
    await rec.flush()
    writer.up = False
    for cid in first:  # these cases end during the outage
        rec.emit(CaseEnded(cid, Outcome.ABANDONED, T0 + timedelta(seconds=5)))
    during = [uuid.uuid4() for _ in range(50)]
    for cid in during:
        whole_case(rec, cid)
    await rec.flush()
    stats = rec.stats()
    assert stats.spooled >= 100 and not stats.database_up
    assert rec.spool_directory.exists() and stats.spool_bytes > 0
    writer.up = True
    after = [uuid.uuid4() for _ in range(50)]
    for cid in after:
        whole_case(rec, cid)
    await rec.close()
    assert set(writer.rows) == {*first, *during, *after}
    assert all(s.ended for s in writer.rows.values())  # the later snapshot won everywhere
    stats = rec.stats()
    assert stats.replayed >= 100 and stats.dropped == 0 and stats.spool_bytes == 0
    # Spooled records were written before anything emitted after recovery.
    flat = [cid for call in writer.calls for cid in call]
    last_replayed = max(flat.index(c) for c in during)
    assert all(flat.index(c) > last_replayed for c in after)


async def test_close_while_down_keeps_everything_for_the_next_run(tmp_path: Path) -> None:
    writer = FakeWriter()
    writer.up = False
    rec = make(tmp_path, writer)
    await rec.start()
    ids = [uuid.uuid4() for _ in range(30)]
    for cid in ids:
        whole_case(rec, cid)
    await rec.close()
    assert writer.rows == {} and rec.stats().spool_bytes > 0

    writer.up = True
    again = make(tmp_path, writer)
    await again.start()
    await again.close()
    assert set(writer.rows) == set(ids)
    assert again.stats().replayed == 30


async def test_replay_twice_is_harmless(tmp_path: Path) -> None:
    """A crash after writing a segment but before deleting it replays it again."""
    writer = FakeWriter()
    cid = uuid.uuid4()
    rec = make(tmp_path / "a", writer)
    await rec.start()
    whole_case(rec, cid)
    await rec.close()
    written = writer.rows[cid]
    spool = tmp_path / "b"
    spool.mkdir()
    (spool / "seg-000000000001.jsonl").write_bytes(encode_state(written) * 2)
    again = make(spool, writer)
    await again.start()
    await again.close()
    assert writer.rows == {cid: written}


async def test_full_spool_is_reported_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer = FakeWriter()
    writer.up = False
    rec = make(tmp_path, writer, spool_bytes=2000)
    await rec.start()
    ids = [uuid.uuid4() for _ in range(40)]
    with caplog.at_level(logging.CRITICAL, logger="storage.recorder"):
        for cid in ids:
            whole_case(rec, cid)
        await rec.close()
    stats = rec.stats()
    assert stats.dropped_spool_full > 0
    assert stats.spooled + stats.dropped_spool_full == 40
    dropped_lines = [r for r in caplog.records if "DROPPED" in r.getMessage()]
    assert len(dropped_lines) == stats.dropped_spool_full
    assert all("case " in r.getMessage() for r in dropped_lines)


async def test_full_pending_buffer_is_reported_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rec = make(tmp_path, FakeWriter(), max_pending=10)
    with caplog.at_level(logging.CRITICAL, logger="storage.recorder"):
        for _ in range(15):  # not started: nothing drains the buffer
            rec.emit(CaseOpened(uuid.uuid4(), TENANT, Channel.SMS, T0))
    assert rec.stats().dropped_pending_full == 5
    assert sum("DROPPED" in r.getMessage() for r in caplog.records) == 5


async def test_refused_rows_are_kept_and_do_not_block_others(tmp_path: Path) -> None:
    writer = FakeWriter()
    bad = uuid.uuid4()
    writer.refuse.add(bad)
    rec = make(tmp_path, writer)
    await rec.start()
    good = [uuid.uuid4() for _ in range(5)]
    for cid in [*good, bad]:
        whole_case(rec, cid)
    await rec.close()
    assert set(writer.rows) == set(good)
    assert rec.stats().rejected == 1
    assert str(bad) in (tmp_path / "rejected.jsonl").read_text()


async def test_emit_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rec = make(tmp_path, FakeWriter())
    cid = uuid.uuid4()
    rec.emit(ServiceStarted(cid, T0))  # unknown case
    rec.emit("not an event")  # type: ignore[arg-type]
    assert rec.stats().ignored_events == 2
    assert str(cid) in caplog.text


async def test_events_for_a_finished_case_are_ignored(tmp_path: Path) -> None:
    writer = FakeWriter()
    rec = make(tmp_path, writer)
    await rec.start()
    cid = uuid.uuid4()
    whole_case(rec, cid)
    rec.emit(ServiceStarted(cid, T0 + timedelta(minutes=5)))
    await rec.close()
    assert rec.stats().ignored_events == 1
    assert writer.rows[cid].service_started_at == T0 + timedelta(seconds=4)


async def test_naive_times_are_refused_at_emit(tmp_path: Path) -> None:
    rec = make(tmp_path, FakeWriter())
    rec.emit(CaseOpened(uuid.uuid4(), TENANT, Channel.PHONE, datetime(2026, 11, 22, 8, 0)))
    assert rec.stats().ignored_events == 1 and rec.stats().pending == 0


async def test_close_without_start_spools_what_was_emitted(tmp_path: Path) -> None:
    writer = FakeWriter()
    rec = make(tmp_path, writer)
    cid = uuid.uuid4()
    whole_case(rec, cid)
    await rec.close()
    assert rec.stats().spooled == 1
    again = make(tmp_path, writer)
    await again.start()
    await again.close()
    assert cid in writer.rows


class HangingWriter(FakeWriter):
    """A database that takes the connection but never answers (until ``release``)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def write(self, states: Sequence[CaseState]) -> list[Rejected]:
        await self.release.wait()
        return await super().write(states)


async def test_i17_7_durable_waits_for_the_database_write(tmp_path: Path) -> None:
    writer = FakeWriter()
    rec = make(tmp_path, writer)
    await rec.start()
    cid = uuid.uuid4()
    rec.emit(CaseOpened(cid, TENANT, Channel.PHONE, T0))
    assert await rec.durable(cid)
    assert cid in writer.rows  # in the database when durable() answers
    await rec.close()


async def test_i17_7_durable_while_down_means_in_the_spool(tmp_path: Path) -> None:
    writer = FakeWriter()
    writer.up = False
    rec = make(tmp_path, writer)
    await rec.start()
    cid = uuid.uuid4()
    rec.emit(CaseOpened(cid, TENANT, Channel.PHONE, T0))
    assert await rec.durable(cid)
    assert writer.rows == {} and rec.stats().spooled >= 1
    # What durable() promised survives a crash: a new recorder replays it from the disk.
    writer.up = True
    rec._task.cancel()  # type: ignore[union-attr]  # a kill: no close, nothing flushed
    rec._spool.close()
    after = make(tmp_path, writer)
    await after.start()
    await after.close()
    assert cid in writer.rows


async def test_i17_7_a_hanging_database_does_not_hold_the_caller(tmp_path: Path) -> None:
    writer = HangingWriter()
    rec = CaseRecorder(writer, Spool(tmp_path, 10**7), linger=0.001, durable_within=0.2)
    await rec.start()
    cid = uuid.uuid4()
    rec.emit(CaseOpened(cid, TENANT, Channel.PHONE, T0))
    started = asyncio.get_running_loop().time()
    assert await rec.durable(cid)
    waited = asyncio.get_running_loop().time() - started
    assert waited < 5  # the write timeout (15 s) is not what the caller waits for
    assert rec.stats().spooled == 1 and rec.stats().spool_bytes > 0
    writer.release.set()
    await rec.close()
    assert cid in writer.rows


async def test_i17_7_durable_is_false_when_nothing_can_keep_it(tmp_path: Path) -> None:
    writer = FakeWriter()
    writer.up = False
    rec = make(tmp_path, writer, spool_bytes=10)  # no room for one line
    await rec.start()
    cid = uuid.uuid4()
    rec.emit(CaseOpened(cid, TENANT, Channel.PHONE, T0))
    assert not await rec.durable(cid)
    await rec.close()


async def test_i17_7_durable_counts_only_what_was_emitted_before(tmp_path: Path) -> None:
    """A snapshot already in flight does not answer for an event emitted after it left."""
    writer = HangingWriter()
    rec = CaseRecorder(writer, Spool(tmp_path, 10**7), linger=0.001, durable_within=30)
    await rec.start()
    cid = uuid.uuid4()
    rec.emit(CaseOpened(cid, TENANT, Channel.PHONE, T0))
    await asyncio.sleep(0.05)  # the first snapshot is now in flight, the write hangs
    rec.emit(CaseQueued(cid, "q", T0 + timedelta(seconds=1)))
    waiting = asyncio.create_task(rec.durable(cid))
    writer.release.set()
    assert await waiting
    assert writer.rows[cid].queue_stays  # the later snapshot was written before the answer
    await rec.close()


async def test_end_open_ends_the_open_phone_cases_as_node_lost(tmp_path: Path) -> None:
    """Issue 19: this controller's Asterisk is gone. Its open phone cases end node_lost (the
    queue stay too); a case opened after the outage, a written contact and a case already
    ended are left alone; the flows' own ends that follow are ignored."""
    writer = FakeWriter()
    rec = make(tmp_path, writer)
    await rec.start()
    waiting, later, web, done = (uuid.uuid4() for _ in range(4))
    rec.emit(CaseOpened(waiting, TENANT, Channel.PHONE, T0))
    rec.emit(CaseQueued(waiting, "q", T0 + timedelta(seconds=2)))
    rec.emit(CaseOpened(web, TENANT, Channel.WEB, T0))
    whole_case(rec, done)
    outage = T0 + timedelta(seconds=30)
    rec.emit(CaseOpened(later, TENANT, Channel.PHONE, outage + timedelta(seconds=1)))
    assert rec.end_open(Outcome.NODE_LOST, outage, channel=Channel.PHONE) == [waiting]
    rec.emit(CaseEnded(waiting, Outcome.ABANDONED, outage + timedelta(seconds=9)))  # ignored
    await rec.close()
    lost = writer.rows[waiting]
    assert (lost.outcome, lost.ended_at) == (Outcome.NODE_LOST, outage)
    assert [(q.exit, q.left_at) for q in lost.queue_stays] == [("node_lost", outage)]
    assert writer.rows[later].ended_at is None and writer.rows[web].ended_at is None
    assert writer.rows[done].outcome is Outcome.ANSWERED
