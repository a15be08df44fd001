"""Repositories on the real database: plain dataclasses out, one short transaction each."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.casewriter import PgCaseWriter
from storage.domain import Actor, TenantInfo, UserInfo
from storage.errors import Conflict, ConstraintViolation, NotFound
from storage.events import (
    CaseEnded,
    CaseEvent,
    CaseOpened,
    Channel,
    ContactRequested,
    ContactStatus,
    DeletionReason,
    ListenKind,
    Outcome,
    RecordingCompleted,
    Role,
    ServiceStarted,
    VoiceMessageSaved,
)
from storage.models import ContactRequest
from storage.passwords import Hasher
from storage.recorder import CaseRecorder
from storage.repositories.audit import AuditLog
from storage.repositories.cases import CaseRepository
from storage.repositories.contact_requests import ContactRequestRepository
from storage.repositories.erasures import ErasureRepository
from storage.repositories.media import ListeningLog, RecordingRepository, VoiceMessageRepository
from storage.repositories.staff import StaffGroupRepository
from storage.repositories.tenants import TenantRepository
from storage.repositories.users import UserRepository
from storage.spool import Spool
from tests.integration.storage.conftest import ADMIN

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


async def record(engine: AsyncEngine, tmp_path: Path, *events: CaseEvent) -> None:
    rec = CaseRecorder(PgCaseWriter(engine), Spool(tmp_path / uuid.uuid4().hex, 10**7))
    await rec.start()
    for e in events:
        rec.emit(e)
    await rec.close()
    assert rec.stats().written >= 1 and rec.stats().rejected == 0


async def test_users_passwords_and_phone_login(
    sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo
) -> None:
    users = UserRepository(sessions, Hasher.fast_for_tests())
    login = f"anna-{uuid.uuid4().hex[:6]}"
    digits = str(uuid.uuid4().int)[:8]
    anna = await users.create(
        tenant_id=tenant.id, name="Anna Agentti", login=login, password="oikea salasana",
        role=Role.EXTERNAL, actor=ADMIN, email="anna@example.fi", phone_number="+358401234567",
        phone_login=digits, phone_pin="4321",
    )  # fmt: skip
    assert anna.role is Role.EXTERNAL and anna.has_phone_pin
    assert not hasattr(anna, "password_hash")
    assert await users.authenticate(login, "oikea salasana") == anna
    assert await users.authenticate(login, "väärä") is None
    assert await users.authenticate("nobody", "x") is None
    assert await users.authenticate_phone(digits, "4321") == anna
    assert await users.authenticate_phone(digits, "0000") is None
    with pytest.raises(Conflict):
        await users.create(
            tenant_id=tenant.id, name="Toinen", login=login, password="x", role=Role.TEAM,
            actor=ADMIN,
        )  # fmt: skip
    promoted = await users.set_role(anna.id, Role.ADMIN, Actor.user(anna))
    assert promoted.role is Role.ADMIN
    disabled = await users.disable(anna.id, ADMIN)
    assert not disabled.active
    assert await users.authenticate(login, "oikea salasana") is None
    actions = [e.action for e in await AuditLog(sessions).recent(tenant_id=tenant.id)]
    assert {"user.create", "user.role", "user.disable"} <= set(actions)


async def test_platform_operator_needs_no_tenant_but_others_do(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    users = UserRepository(sessions, Hasher.fast_for_tests())
    admin = await users.create(
        tenant_id=None, name="Ops", login=f"ops-{uuid.uuid4().hex[:6]}", password="pw",
        role=Role.OPERATOR, actor=ADMIN,
    )  # fmt: skip
    assert admin.tenant_id is None
    for role in (Role.ADMIN, Role.TEAM):  # a tenant's roles need the tenant
        with pytest.raises(ConstraintViolation) as err:
            await users.create(
                tenant_id=None, name="Agent", login=f"a-{uuid.uuid4().hex[:6]}", password="pw",
                role=role, actor=ADMIN,
            )  # fmt: skip
        assert err.value.constraint == "ck_users_tenant_or_platform"


async def test_two_agents_never_claim_the_same_request(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    tenant: TenantInfo,
    agent: UserInfo,
    tmp_path: Path,
) -> None:
    events: list[CaseEvent] = []
    for i in range(6):
        cid = uuid.uuid4()
        events += [
            CaseOpened(cid, tenant.id, Channel.PHONE, NOW),
            ContactRequested(cid, uuid.uuid4(), NOW + timedelta(seconds=i), f"+35840{i}"),
            CaseEnded(cid, Outcome.CALLBACK_REQUESTED, NOW + timedelta(seconds=10)),
        ]
    await record(engine, tmp_path, *events)
    repo = ContactRequestRepository(sessions)
    claims = await asyncio.gather(*(repo.claim_next(tenant.id, agent.id, NOW) for _ in range(8)))
    got = [c.id for c in claims if c is not None]
    assert len(got) == len(set(got)) == 6
    first = await repo.attempted(got[0], agent.id, NOW)  # no answer: back in the queue
    assert first.status is ContactStatus.OPEN and first.attempts == 1
    assert first.last_agent_id == agent.id
    with pytest.raises(Conflict):
        await repo.complete(got[1], agent.id, NOW)
        await repo.complete(got[1], agent.id, NOW)


async def test_web_contact_intake_and_completion_closes_the_case(
    sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo, agent: UserInfo
) -> None:
    repo = ContactRequestRepository(sessions)
    req = (await repo.submit(
        tenant_id=tenant.id, channel=Channel.WEB, at=NOW, name="Taksiasiakas",
        email="asiakas@example.fi", message="Tarvitsen taksin huomenna klo 7", queue="taxi",
    )).request  # fmt: skip
    claimed = await repo.claim_next(tenant.id, agent.id, NOW + timedelta(minutes=2), queue="taxi")
    assert claimed is not None and claimed.id == req.id
    await repo.complete(req.id, agent.id, NOW + timedelta(minutes=5))
    case = await CaseRepository(sessions).get(req.case_id)
    assert case.channel is Channel.WEB and case.outcome is Outcome.HANDLED
    assert case.delay_before_service == timedelta(minutes=2)
    assert case.service_time == timedelta(minutes=3) and case.agent_id == agent.id


async def test_audio_sweep_listening_log_and_erasure(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    tenant: TenantInfo,
    agent: UserInfo,
    tmp_path: Path,
) -> None:
    await TenantRepository(sessions).set_retention(
        tenant.id, ADMIN, recordings=timedelta(days=60), voice_messages=timedelta(days=1)
    )
    number = f"+35850{uuid.uuid4().int % 10**7:07d}"
    old, new = NOW - timedelta(days=90), NOW - timedelta(days=10)
    cases = {old: uuid.uuid4(), new: uuid.uuid4()}
    audio: dict[datetime, tuple[uuid.UUID, uuid.UUID]] = {}
    events: list[CaseEvent] = []
    for when, cid in cases.items():
        rid, vid = uuid.uuid4(), uuid.uuid4()
        audio[when] = (rid, vid)
        events += [
            CaseOpened(cid, tenant.id, Channel.PHONE, when, caller_number=number),
            ServiceStarted(cid, when + timedelta(seconds=5), agent.id),
            CaseEnded(cid, Outcome.ANSWERED, when + timedelta(seconds=60)),
            RecordingCompleted(cid, rid, "r", f"/rec/{rid}.wav", when, timedelta(60), 1, "0" * 64),
            VoiceMessageSaved(cid, vid, "v", f"/vm/{vid}.wav", when, timedelta(5), 1, "1" * 64),
        ]
    await record(engine, tmp_path, *events)

    recordings, voice = RecordingRepository(sessions), VoiceMessageRepository(sessions)
    due_r = {a.id for a in await recordings.due_for_sweep(NOW, limit=10_000)}
    due_v = {a.id for a in await voice.due_for_sweep(NOW, limit=10_000)}
    assert audio[old][0] in due_r and audio[new][0] not in due_r  # 60 days for recordings
    assert {audio[old][1], audio[new][1]} <= due_v  # 1 day for voice messages
    swept = await recordings.mark_deleted(audio[old][0], DeletionReason.RETENTION)
    assert swept.deletion_reason is DeletionReason.RETENTION
    with pytest.raises(Conflict):
        await recordings.mark_deleted(audio[old][0], DeletionReason.RETENTION)

    listen = ListeningLog(sessions)
    event = await listen.record(
        user_id=agent.id, case_id=cases[new], kind=ListenKind.DOWNLOAD,
        link=f"/console/recordings/{audio[new][0]}", recording_id=audio[new][0],
    )  # fmt: skip
    assert (await listen.for_case(cases[new])) == [event]
    with pytest.raises(NotFound):
        await listen.record(user_id=agent.id, case_id=uuid.uuid4(), kind=ListenKind.PLAY, link="x")

    found = await CaseRepository(sessions).find_by_contact(tenant.id, number=number)
    assert {c.id for c in found} == set(cases.values())
    result = await ErasureRepository(sessions).erase_subject(
        tenant.id, ADMIN, NOW, number=number, request_ref="DSR-2026-001"
    )
    assert result.ledger.counts["cases"] == 2
    assert set(result.ledger.case_ids) == set(cases.values())
    assert {a.id for a in result.recordings} == {audio[new][0]}  # the old one is gone already
    assert len(result.voice_messages) == 2
    assert await CaseRepository(sessions).find_by_contact(tenant.id, number=number) == []
    blanked = await CaseRepository(sessions).get(cases[new])
    assert blanked.caller_number is None and blanked.personal_data_erased_at is not None
    assert blanked.service_time == timedelta(seconds=55)  # statistics stay
    assert await ErasureRepository(sessions).ledger(tenant.id) == [result.ledger]
    # The listening log still tells who listened to the erased case.
    assert (await listen.for_case(cases[new]))[0].user_id == agent.id


async def test_erasure_also_blanks_the_idempotency_key_and_submission_hash(
    sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo
) -> None:
    requests = ContactRequestRepository(sessions)
    intake = await requests.submit(
        tenant_id=tenant.id, channel=Channel.SMS, at=NOW, number="+358405550101",
        message="Taksi asemalle", idempotency_key="sms-1", request_hash="ab" * 32,
    )  # fmt: skip
    await ErasureRepository(sessions).erase_subject(tenant.id, ADMIN, NOW, number="+358405550101")
    async with sessions() as s:
        row = await s.get(ContactRequest, intake.request.id)
        assert row is not None
        assert (row.idempotency_key, row.request_hash, row.message) == (None, None, None)
        assert row.personal_data_erased_at is not None


async def test_erased_personal_data_is_not_written_back_by_a_late_replay(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo,
    tmp_path: Path,
) -> None:  # fmt: skip
    cid = uuid.uuid4()
    opened = CaseOpened(cid, tenant.id, Channel.PHONE, NOW, caller_number="+358409999999")
    await record(engine, tmp_path, opened)
    await ErasureRepository(sessions).erase_subject(tenant.id, ADMIN, NOW, number="+358409999999")
    await record(engine, tmp_path, opened, CaseEnded(cid, Outcome.ABANDONED, NOW))
    case = await CaseRepository(sessions).get(cid)
    assert case.caller_number is None and case.outcome is Outcome.ABANDONED


async def test_case_retention_blanks_old_personal_data(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    tenants = TenantRepository(sessions)
    t = await tenants.create(
        f"r-{uuid.uuid4().hex[:8]}", "Retention Oy", ADMIN, case_retention=timedelta(days=30)
    )
    old, fresh = uuid.uuid4(), uuid.uuid4()
    await record(
        engine, tmp_path,
        CaseOpened(old, t.id, Channel.SMS, NOW - timedelta(days=31), caller_number="+3581"),
        ContactRequested(old, uuid.uuid4(), NOW - timedelta(days=31), message="vanha viesti"),
        CaseOpened(fresh, t.id, Channel.SMS, NOW - timedelta(days=29), caller_number="+3582"),
    )  # fmt: skip
    assert await CaseRepository(sessions).blank_expired(NOW, ADMIN) >= 1
    assert (await CaseRepository(sessions).get(old)).caller_number is None
    assert (await CaseRepository(sessions).get(fresh)).caller_number == "+3582"
    (request,) = [r for r in await ContactRequestRepository(sessions).list_open(t.id)]
    assert request.message is None


async def test_rectify_and_restrict_are_audited(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo,
    tmp_path: Path,
) -> None:  # fmt: skip
    cid = uuid.uuid4()
    await record(engine, tmp_path, CaseOpened(cid, tenant.id, Channel.CHAT, NOW, caller_name="X"))
    cases = CaseRepository(sessions)
    fixed = await cases.rectify(cid, ADMIN, caller_name="Oikea Nimi")
    assert fixed.caller_name == "Oikea Nimi"
    assert (await cases.restrict(cid, ADMIN)).restricted_at is not None
    actions = [e.action for e in await AuditLog(sessions).recent(tenant_id=tenant.id)]
    assert "case.rectify" in actions and "case.restrict" in actions
    with pytest.raises(NotFound):
        await cases.get(uuid.uuid4())


async def test_staff_groups(sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo) -> None:
    staff = StaffGroupRepository(sessions)
    group = await staff.create_group(tenant.id, "Päivystäjät", description="sähköviat")
    a = await staff.add_member(group.id, "Pekka", "+358401000001")
    await staff.add_member(group.id, "Urakoitsija Oy", "+358401000002", kind="partner")
    with pytest.raises(Conflict):
        await staff.add_member(group.id, "Pekka again", "+358401000001")
    with pytest.raises(ConstraintViolation):
        await staff.add_member(group.id, "Bad", "not a number")
    assert [m.name for m in await staff.members(group.id)] == ["Pekka", "Urakoitsija Oy"]
    await staff.remove_member(a.id)
    assert [g.name for g in await staff.groups(tenant.id)] == ["Päivystäjät"]
    await staff.delete_group(group.id)
    assert await staff.members(group.id) == []
    with pytest.raises(NotFound):
        await staff.delete_group(group.id)
