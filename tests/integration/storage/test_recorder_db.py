"""Case timings written through the recorder to Postgres, for scripted event sequences."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.casewriter import PgCaseWriter
from storage.domain import TenantInfo, UserInfo
from storage.events import (
    CaseEnded,
    CaseOpened,
    CaseQueued,
    Channel,
    ContactRequested,
    ContactStatus,
    Outcome,
    QueueExit,
    QueueLeft,
    RecordingCompleted,
    ServiceStarted,
    VoiceMessageSaved,
)
from storage.recorder import CaseRecorder
from storage.repositories.cases import CaseRepository
from storage.repositories.contact_requests import ContactRequestRepository
from storage.repositories.media import RecordingRepository, VoiceMessageRepository
from storage.spool import Spool
from storage.timing import CaseState, apply

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
async def recorder(engine: AsyncEngine, tmp_path: Path) -> CaseRecorder:
    rec = CaseRecorder(PgCaseWriter(engine), Spool(tmp_path / "spool", 10**7), linger=0.001)
    await rec.start()
    return rec


async def test_answered_call(
    recorder: CaseRecorder,
    sessions: async_sessionmaker[AsyncSession],
    tenant: TenantInfo,
    agent: UserInfo,
) -> None:
    cid = uuid.uuid4()
    for e in (
        CaseOpened(cid, tenant.id, Channel.PHONE, at(0), "0201234", "+358401234567", "Matti"),
        CaseQueued(cid, "support", at(4)),
        ServiceStarted(cid, at(34), agent.id),
        CaseEnded(cid, Outcome.ANSWERED, at(214)),
    ):
        recorder.emit(e)
    await recorder.close()
    case = await CaseRepository(sessions).get(cid)
    assert case.outcome is Outcome.ANSWERED
    assert case.delay_before_service == timedelta(seconds=34)
    assert case.queue_wait == timedelta(seconds=30)
    assert case.service_time == timedelta(seconds=180)
    assert case.total_time == timedelta(seconds=214)
    assert case.agent_id == agent.id
    assert (case.caller_number, case.caller_name, case.service_number) == (
        "+358401234567", "Matti", "0201234",
    )  # fmt: skip
    (entry,) = case.queue_entries
    assert (entry.queue, entry.exit_reason, entry.wait) == (
        "support",
        "served",
        timedelta(seconds=30),
    )


async def test_abandoned_in_queue(
    recorder: CaseRecorder, sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo
) -> None:
    cid = uuid.uuid4()
    recorder.emit(CaseOpened(cid, tenant.id, Channel.PHONE, at(0), caller_number="+3589"))
    recorder.emit(CaseQueued(cid, "support", at(2)))
    await recorder.flush()  # the open case is visible while it waits
    live = await CaseRepository(sessions).get(cid)
    assert live.ended_at is None and live.queue_entries[0].left_at is None
    recorder.emit(CaseEnded(cid, Outcome.ABANDONED, at(92)))
    await recorder.close()
    case = await CaseRepository(sessions).get(cid)
    assert case.outcome is Outcome.ABANDONED
    assert case.queue_wait == timedelta(seconds=90)
    assert case.delay_before_service is None and case.service_time is None
    assert case.agent_id is None
    assert case.queue_entries[0].exit_reason == "abandoned"


async def test_callback_requested(
    recorder: CaseRecorder,
    sessions: async_sessionmaker[AsyncSession],
    tenant: TenantInfo,
    agent: UserInfo,
) -> None:
    cid, rid = uuid.uuid4(), uuid.uuid4()
    for e in (
        CaseOpened(cid, tenant.id, Channel.PHONE, at(0), caller_number="+358401111111"),
        CaseQueued(cid, "support", at(5)),
        QueueLeft(cid, at(65), QueueExit.CALLBACK),
        ContactRequested(cid, rid, at(80), callback_number="+358402222222", queue="support"),
        CaseEnded(cid, Outcome.CALLBACK_REQUESTED, at(85)),
    ):
        recorder.emit(e)
    await recorder.close()
    case = await CaseRepository(sessions).get(cid)
    assert case.outcome is Outcome.CALLBACK_REQUESTED
    assert case.queue_wait == timedelta(seconds=60)
    assert case.delay_before_service is None
    assert case.total_time == timedelta(seconds=85)
    assert case.queue_entries[0].exit_reason == "callback"

    requests = ContactRequestRepository(sessions)
    (open_request,) = await requests.list_open(tenant.id)
    assert open_request.id == rid and open_request.callback_number == "+358402222222"
    claimed = await requests.claim_next(tenant.id, agent.id, at(600))
    assert claimed is not None and claimed.id == rid
    done = await requests.complete(rid, agent.id, at(700))
    assert done.status is ContactStatus.DONE and done.last_agent_id == agent.id
    assert await requests.list_open(tenant.id) == []


async def test_recordings_and_voice_messages_arrive_with_the_case(
    recorder: CaseRecorder, sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo
) -> None:
    cid, rec_id, vm_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    recorder.emit(CaseOpened(cid, tenant.id, Channel.PHONE, at(0)))
    recorder.emit(CaseEnded(cid, Outcome.VOICEMAIL, at(40)))
    # Finalised after the hang-up: still attached to the (ended) case.
    recorder.emit(
        RecordingCompleted(cid, rec_id, "call", f"/rec/{rec_id}.wav", at(41),
                           timedelta(seconds=40), 640_000, "a" * 64)
    )  # fmt: skip
    recorder.emit(
        VoiceMessageSaved(cid, vm_id, "vm", f"/vm/{vm_id}.wav", at(41),
                          timedelta(seconds=12), 192_000, "b" * 64)
    )  # fmt: skip
    await recorder.close()
    (recording,) = await RecordingRepository(sessions).for_case(cid)
    (message,) = await VoiceMessageRepository(sessions).for_case(cid)
    assert recording.id == rec_id and recording.duration == timedelta(seconds=40)
    assert message.id == vm_id and message.size_bytes == 192_000


async def test_writes_are_idempotent_and_never_go_backwards(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo
) -> None:
    cid = uuid.uuid4()
    opened = apply(None, CaseOpened(cid, tenant.id, Channel.PHONE, at(0), caller_number="+358"))
    queued = apply(opened, CaseQueued(cid, "q", at(1)))
    ended = apply(queued, CaseEnded(cid, Outcome.ABANDONED, at(9)))
    writer = PgCaseWriter(engine)
    states: list[CaseState] = [opened, queued, ended, ended, queued, opened]  # replay, stale
    for s in states:
        assert await writer.write([s]) == []
    assert await writer.write(states) == []  # several snapshots of one case in one batch
    case = await CaseRepository(sessions).get(cid)
    assert case.outcome is Outcome.ABANDONED and case.queue_wait == timedelta(seconds=8)
    assert len(case.queue_entries) == 1


async def test_refused_rows_do_not_block_the_batch(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo
) -> None:
    good = apply(None, CaseOpened(uuid.uuid4(), tenant.id, Channel.SMS, at(0)))
    orphan = apply(None, CaseOpened(uuid.uuid4(), uuid.uuid4(), Channel.SMS, at(0)))
    rejected = await PgCaseWriter(engine).write([good, orphan])
    assert [r.state.case_id for r in rejected] == [orphan.case_id]
    assert "fk_cases_tenant_id_tenants" in rejected[0].reason
    assert (await CaseRepository(sessions).get(good.case_id)).channel is Channel.SMS
