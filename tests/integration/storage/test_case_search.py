"""Issue 14: the case list in Postgres — filters, keyset pages newest first (ties by id), a
restriction made before the call still covers its case, and the new queue exit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.casewriter import PgCaseWriter
from storage.domain import TenantInfo, UserInfo
from storage.events import (
    CaseEnded,
    CaseEvent,
    CaseOpened,
    CaseQueued,
    Channel,
    Outcome,
    QueueExit,
    QueueLeft,
    ServiceStarted,
)
from storage.repositories.cases import CaseCursor, CaseRepository, CaseSearch
from storage.repositories.restrictions import RestrictionRepository
from storage.timing import CaseState, apply
from tests.integration.storage.conftest import ADMIN

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def fold(*events: CaseEvent) -> CaseState:
    state: CaseState | None = None
    for e in events:
        state = apply(state, e)
    assert state is not None
    return state


def call(
    tenant: uuid.UUID,
    start: float,
    outcome: Outcome,
    *,
    queue: str = "sales",
    exit_: QueueExit | None = None,
    agent: uuid.UUID | None = None,
    number: str = "0401234567",
    service: str = "200",
    channel: Channel = Channel.PHONE,
) -> CaseState:
    cid = uuid.uuid4()
    events: list[CaseEvent] = [
        CaseOpened(cid, tenant, channel, at(start), service, number),
        CaseQueued(cid, queue, at(start + 5)),
    ]
    if agent is not None:
        events.append(ServiceStarted(cid, at(start + 15), agent))
    elif exit_ is not None:
        events.append(QueueLeft(cid, at(start + 5), exit_))
    events.append(CaseEnded(cid, outcome, at(start + 30)))
    return fold(*events)


async def test_filters_and_the_overflowed_exit(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    tenant: TenantInfo,
    agent: UserInfo,
) -> None:
    t = tenant.id
    answered = call(t, 0, Outcome.ANSWERED, agent=agent.id)
    overflowed = call(t, 60, Outcome.OVERFLOWED, exit_=QueueExit.OVERFLOWED)
    support = call(t, 120, Outcome.ABANDONED, queue="support", service="201")
    sms = call(t, 180, Outcome.HANDLED, channel=Channel.SMS, queue="taxi")
    assert await PgCaseWriter(engine).write([answered, overflowed, support, sms]) == []
    repo = CaseRepository(sessions)

    async def ids(**kw: object) -> list[uuid.UUID]:
        page = await repo.search(CaseSearch(t, **kw))  # type: ignore[arg-type]
        return [i.case.id for i in page.items]

    everything = await ids()
    assert everything == [sms.case_id, support.case_id, overflowed.case_id, answered.case_id]
    assert await ids(queue="sales") == [overflowed.case_id, answered.case_id]
    assert await ids(outcome=Outcome.OVERFLOWED) == [overflowed.case_id]
    assert await ids(channel=Channel.SMS) == [sms.case_id]
    assert await ids(service_number="201") == [support.case_id]
    assert await ids(agent_login=agent.login) == [answered.case_id]
    assert await ids(agent_login="nobody-at-all") == []
    assert await ids(since=at(60), until=at(180)) == [support.case_id, overflowed.case_id]
    assert (await repo.search(CaseSearch(uuid.uuid4()))).items == []  # another tenant's
    listed = await repo.listed(overflowed.case_id)
    (entry,) = listed.case.queue_entries
    assert (entry.exit_reason, entry.wait) == ("overflowed", timedelta(0))
    answered_row = await repo.listed(answered.case_id)
    assert answered_row.agent_login == agent.login and not answered_row.restricted


async def test_keyset_pages_are_newest_first_and_complete(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo
) -> None:
    # Seven cases, three of them started at the same instant: ties go by id.
    states = [call(tenant.id, s, Outcome.ABANDONED) for s in (0, 10, 10, 10, 20, 30, 40)]
    assert await PgCaseWriter(engine).write(states) == []
    repo = CaseRepository(sessions)
    seen: list[uuid.UUID] = []
    after: CaseCursor | None = None
    pages = 0
    while True:
        page = await repo.search(CaseSearch(tenant.id), after=after, limit=2)
        pages += 1
        seen += [i.case.id for i in page.items]
        if page.next is None:
            break
        after = page.next
    assert pages == 4 and len(seen) == len(set(seen)) == 7
    expected = sorted(states, key=lambda s: (s.started_at, s.case_id), reverse=True)
    assert seen == [s.case_id for s in expected]


async def test_a_restriction_made_before_the_call_covers_its_case(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo
) -> None:
    await RestrictionRepository(sessions).restrict(tenant.id, ADMIN, number="+358405556666")
    hidden = call(tenant.id, 0, Outcome.ABANDONED, number="0405556666")  # dialled form
    shown = call(tenant.id, 10, Outcome.ABANDONED, number="0407778888")
    assert await PgCaseWriter(engine).write([hidden, shown]) == []
    page = await CaseRepository(sessions).search(CaseSearch(tenant.id))
    flags = {i.case.id: i.restricted for i in page.items}
    assert flags == {hidden.case_id: True, shown.case_id: False}


async def test_the_case_list_can_use_its_keyset_index(
    engine: AsyncEngine, tenant: TenantInfo
) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            r[0]
            for r in await conn.execute(
                text(
                    "EXPLAIN SELECT id FROM cases WHERE tenant_id = :t"
                    " AND (started_at, id) < (:s, :i) ORDER BY started_at DESC, id DESC LIMIT 51"
                ),
                {"t": tenant.id, "s": T0, "i": uuid.uuid4()},
            )
        )
    assert "ix_cases_tenant_id_started_at_id" in plan, plan
    assert "Sort" not in plan, plan  # read in index order, no sort of the tenant's cases
