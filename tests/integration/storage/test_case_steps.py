"""Issue 14, a case's timeline steps (``case_events``): written by the recorder, read in
time order, exported with the person's data, and blanked by retention and erasure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.casewriter import PgCaseWriter
from storage.contacts import Subject
from storage.domain import Actor, TenantInfo, UserInfo
from storage.events import (
    AgentOffered,
    CaseEnded,
    CaseOpened,
    CaseQueued,
    Channel,
    MenuChosen,
    MenuResult,
    OfferResult,
    Outcome,
    ServiceStarted,
)
from storage.models import AuditEntry, CaseStep
from storage.recorder import CaseRecorder
from storage.repositories.cases import CaseRepository
from storage.repositories.erasures import ErasureRepository
from storage.repositories.subjects import SubjectRepository
from storage.spool import Spool

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
NUMBER = "+358401110000"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def _a_case(
    engine: AsyncEngine, tmp_path: Path, tenant: TenantInfo, agent: UserInfo
) -> uuid.UUID:
    rec = CaseRecorder(PgCaseWriter(engine), Spool(tmp_path / "spool", 10**7), linger=0.001)
    await rec.start()
    cid = uuid.uuid4()
    for e in (
        CaseOpened(cid, tenant.id, Channel.PHONE, at(0), "200", NUMBER),
        MenuChosen(cid, at(3), "main", MenuResult.NO_INPUT),
        MenuChosen(cid, at(6), "main", MenuResult.CHOSEN, "1", "queue:sales"),
        CaseQueued(cid, "sales", at(6)),
        AgentOffered(cid, at(6), "sales", "agent2", at(12), OfferResult.TIMEOUT),
        AgentOffered(cid, at(12), "sales", agent.login, at(15), OfferResult.ANSWERED, agent.id),
        ServiceStarted(cid, at(15), agent.id),
        CaseEnded(cid, Outcome.ANSWERED, at(60)),
    ):
        rec.emit(e)
    await rec.close()
    return cid


async def _steps(sessions: async_sessionmaker[AsyncSession], cid: uuid.UUID) -> list[CaseStep]:
    async with sessions() as s:
        stmt = select(CaseStep).where(CaseStep.case_id == cid).order_by(CaseStep.at, CaseStep.kind)
        return list(await s.scalars(stmt))


async def test_steps_are_written_once_and_read_in_time_order(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    tenant: TenantInfo,
    agent: UserInfo,
    tmp_path: Path,
) -> None:
    cid = await _a_case(engine, tmp_path, tenant, agent)
    listed = await CaseRepository(sessions).listed(cid)
    assert [(e.kind, e.result, e.choice or e.agent_login) for e in listed.case.steps] == [
        ("menu", "no_input", None),
        ("menu", "chosen", "1"),
        ("offer", "timeout", "agent2"),
        ("offer", "answered", agent.login),
    ]
    answered = listed.case.steps[-1]
    assert (answered.at, answered.ended_at, answered.agent_id) == (at(12), at(15), agent.id)
    assert listed.case.steps[1].option == "queue:sales"
    exported = await SubjectRepository(sessions).collect(tenant.id, Subject.of(number=NUMBER))
    assert [(r["kind"], r["result"]) for r in exported.case_events] == [
        ("menu", "no_input"), ("menu", "chosen"), ("offer", "timeout"), ("offer", "answered"),
    ]  # fmt: skip


async def test_retention_blanks_the_menu_choices_and_keeps_the_rest(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    tenant: TenantInfo,
    agent: UserInfo,
    tmp_path: Path,
) -> None:
    cid = await _a_case(engine, tmp_path, tenant, agent)
    done = await CaseRepository(sessions).blank_expired_batch(
        tenant.id, T0 + timedelta(days=4 * 366), Actor.system("test"), after=None, limit=10
    )
    assert done.cases == 1
    steps = await _steps(sessions, cid)
    assert [(e.kind, e.choice, e.option) for e in steps] == [
        ("menu", None, None), ("menu", None, None), ("offer", None, None), ("offer", None, None),
    ]  # fmt: skip
    assert [e.result for e in steps] == ["no_input", "chosen", "timeout", "answered"]
    assert [e.agent_login for e in steps if e.kind == "offer"] == ["agent2", agent.login]
    async with sessions() as s:
        entry = (
            await s.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == "retention.cases", AuditEntry.tenant_id == tenant.id
                )
            )
        ).one()
    assert entry.details["menu_steps"] == 1


async def test_erasure_blanks_the_menu_choices(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    tenant: TenantInfo,
    agent: UserInfo,
    tmp_path: Path,
) -> None:
    cid = await _a_case(engine, tmp_path, tenant, agent)
    result = await ErasureRepository(sessions).erase_subject(
        tenant.id, Actor.system("test"), datetime.now(UTC), number=NUMBER
    )
    assert result.ledger.counts["menu_steps"] == 1
    assert [(e.choice, e.option) for e in await _steps(sessions, cid) if e.kind == "menu"] == [
        (None, None),
        (None, None),
    ]
