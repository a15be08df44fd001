"""The dialer's view of callback requests on the real Postgres: due requests in place order,
claims with FOR UPDATE SKIP LOCKED (two controllers never get the same request), leases that
expire (or whose holder is down by its heartbeat), attempts, retries and outcomes."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.domain import TenantInfo, UserInfo
from storage.events import CallbackOutcome, CallbackResult, Channel
from storage.models import Case, ContactRequest
from storage.models.controllers import ControllerRow
from storage.repositories._uow import transaction
from storage.repositories.callbacks import CallbackRepository
from storage.repositories.contact_requests import ContactRequestRepository
from storage.repositories.controllers import ControllerRepository

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LEASE = 60.0


async def _request(
    sessions: async_sessionmaker[AsyncSession],
    tenant: TenantInfo,
    *,
    place: datetime,
    queue: str = "support",
    number: str = "+358401234567",
) -> uuid.UUID:
    view = (
        await ContactRequestRepository(sessions).submit(
            tenant_id=tenant.id, channel=Channel.PHONE, at=place, number=number, queue=queue
        )
    ).request
    async with transaction(sessions) as s:
        await s.execute(
            update(ContactRequest)
            .where(ContactRequest.id == view.id)
            .values(queue_entered_at=place - timedelta(seconds=30))
        )
    return view.id


def _mine(rows: list, ids: set[uuid.UUID]) -> list:
    return [r for r in rows if r.id in ids]


async def test_due_lists_in_place_order_and_hides_leased_and_future(
    sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo
) -> None:
    repo = CallbackRepository(sessions)
    late = await _request(sessions, tenant, place=T0 + timedelta(minutes=2))
    early = await _request(sessions, tenant, place=T0)
    leased = await _request(sessions, tenant, place=T0 + timedelta(minutes=1))
    ids = {late, early, leased}
    now = T0 + timedelta(minutes=5)
    assert [r.id for r in _mine(await repo.due(now, lease=LEASE), ids)] == [early, leased, late]
    first = _mine(await repo.due(now, lease=LEASE), ids)[0]
    assert first.place == T0 - timedelta(seconds=30)  # queue_entered_at, not requested_at
    assert first.tenant == tenant.slug and first.number == "+358401234567"

    assert await repo.claim(leased, "ctl-a", now, lease=LEASE) is not None
    assert [r.id for r in _mine(await repo.due(now, lease=LEASE), ids)] == [early, late]
    # A lease older than `lease` seconds is a dead controller's: due again.
    later = now + timedelta(seconds=LEASE + 1)
    assert leased in {r.id for r in await repo.due(later, lease=LEASE)}
    assert await repo.claim(leased, "ctl-b", later, lease=LEASE) is not None
    assert not await repo.renew(leased, "ctl-a", later)  # ctl-a lost it
    assert await repo.renew(leased, "ctl-b", later)

    # Retry later: out of the due list until next_attempt_at.
    assert await repo.claim(early, "ctl-a", now, lease=LEASE) is not None
    assert await repo.retry_later(early, "ctl-a", now, now + timedelta(seconds=90), agent_id=None)
    assert early not in {r.id for r in await repo.due(now, lease=LEASE)}
    again = [r for r in await repo.due(now + timedelta(seconds=90), lease=LEASE) if r.id == early]
    assert again and again[0].attempts == 1


async def test_two_controllers_claiming_at_once_get_each_request_exactly_once(
    sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo
) -> None:
    repo = CallbackRepository(sessions)
    ids = [await _request(sessions, tenant, place=T0 + timedelta(seconds=i)) for i in range(12)]
    now = T0 + timedelta(minutes=5)

    async def controller(name: str) -> list[uuid.UUID]:
        got = []
        for request_id in ids:  # both try every request, in the same order
            if await repo.claim(request_id, name, now, lease=LEASE) is not None:
                got.append(request_id)
        return got

    a, b = await asyncio.gather(controller("ctl-a"), controller("ctl-b"))
    assert sorted(a + b) == sorted(ids)  # every request claimed ...
    assert not set(a) & set(b)  # ... by exactly one controller


async def test_restricted_and_erased_requests_are_never_dialled(
    sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo
) -> None:
    repo = CallbackRepository(sessions)
    restricted = await _request(sessions, tenant, place=T0)
    view = await ContactRequestRepository(sessions).get(restricted)
    async with transaction(sessions) as s:
        await s.execute(update(Case).where(Case.id == view.case_id).values(restricted_at=T0))
    now = T0 + timedelta(minutes=1)
    assert restricted not in {r.id for r in await repo.due(now, lease=LEASE)}
    assert await repo.claim(restricted, "ctl-a", now, lease=LEASE) is None


async def test_attempts_and_an_answered_callback_close_request_and_case(
    sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo, agent: UserInfo
) -> None:
    repo = CallbackRepository(sessions)
    rid = await _request(sessions, tenant, place=T0)
    now = T0 + timedelta(minutes=1)
    assert await repo.claim(rid, "ctl-a", now, lease=LEASE) is not None
    n1 = await repo.start_attempt(rid, "ctl-a", now, agent_login="agent1", agent_id=agent.id)
    await repo.end_attempt(rid, n1, CallbackResult.BUSY, now + timedelta(seconds=3))
    assert await repo.retry_later(rid, "ctl-a", now, now + timedelta(seconds=5), agent_id=agent.id)
    t2 = now + timedelta(seconds=5)
    assert await repo.claim(rid, "ctl-a", t2, lease=LEASE) is not None
    n2 = await repo.start_attempt(rid, "ctl-a", t2, agent_login="agent1", agent_id=agent.id)
    await repo.attempt_answered(rid, n2, t2 + timedelta(seconds=2))
    end = t2 + timedelta(seconds=40)
    await repo.end_attempt(rid, n2, CallbackResult.ANSWERED, end)
    assert await repo.finish(
        rid,
        "ctl-a",
        CallbackOutcome.ANSWERED,
        end,
        agent_id=agent.id,
        served=(t2 + timedelta(seconds=2), end),
    )
    assert [(a.attempt_no, a.result) for a in await repo.attempts(rid)] == [
        (1, CallbackResult.BUSY),
        (2, CallbackResult.ANSWERED),
    ]
    # The work list's one-query form: each request its own attempts, in order.
    other = await _request(sessions, tenant, place=T0 + timedelta(seconds=1))
    batch = await repo.attempts_of([other, rid])
    assert list(batch) == [other, rid] and batch[other] == []
    assert [(a.attempt_no, a.result) for a in batch[rid]] == [
        (1, CallbackResult.BUSY),
        (2, CallbackResult.ANSWERED),
    ]
    assert await repo.attempts_of([]) == {}
    req = await ContactRequestRepository(sessions).get(rid)
    assert req.status == "done" and req.attempts == 2 and req.last_agent_id == agent.id
    async with transaction(sessions) as s:
        row = await s.get(ContactRequest, rid)
        assert row is not None and row.outcome == "answered" and row.dialing_by is None
        case = await s.get(Case, req.case_id)
        assert case is not None
        assert case.outcome == "answered" and case.agent_id == agent.id
        assert case.service_time == timedelta(seconds=38)
    # Finished: not due, not claimable, a second finish is refused.
    assert await repo.claim(rid, "ctl-b", end, lease=LEASE) is None
    assert not await repo.finish(rid, "ctl-a", CallbackOutcome.GAVE_UP, end, agent_id=None)


async def test_a_dead_controllers_lease_expires_and_its_open_attempt_is_closed(
    sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo
) -> None:
    repo = CallbackRepository(sessions)
    rid = await _request(sessions, tenant, place=T0)
    now = T0 + timedelta(minutes=5)
    assert await repo.claim(rid, "ctl-a", now, lease=LEASE) is not None
    first = await repo.start_attempt(rid, "ctl-a", now, agent_login="agent1", agent_id=None)
    # ctl-a dies here. Within the lease nobody else may dial ...
    assert await repo.claim(rid, "ctl-b", now + timedelta(seconds=LEASE - 1), lease=LEASE) is None
    # ... after it, ctl-b takes over and the dead attempt is closed as interrupted.
    later = now + timedelta(seconds=LEASE + 1)
    assert await repo.claim(rid, "ctl-b", later, lease=LEASE) is not None
    second = await repo.start_attempt(rid, "ctl-b", later, agent_login="agent1", agent_id=None)
    attempts = await repo.attempts(rid)
    assert [(a.attempt_no, a.result) for a in attempts] == [
        (first, CallbackResult.INTERRUPTED),
        (second, None),
    ]
    assert attempts[0].ended_at == later
    assert not await repo.renew(rid, "ctl-a", later)  # the dead controller's lease is gone


async def test_i17_5_without_takeovers_an_expired_lease_is_left_to_its_holder(
    sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo
) -> None:
    repo = CallbackRepository(sessions)
    held = await _request(sessions, tenant, place=T0)
    free = await _request(sessions, tenant, place=T0 + timedelta(seconds=1))
    now = T0 + timedelta(minutes=5)
    assert await repo.claim(held, "ctl-a", now, lease=LEASE) is not None
    later = now + timedelta(seconds=LEASE + 1)  # ctl-a's lease ran out (an outage, a crash)
    due = _mine(await repo.due(later, lease=LEASE, takeovers=False), {held, free})
    assert [r.id for r in due] == [free]
    assert await repo.claim(held, "ctl-b", later, lease=LEASE, takeovers=False) is None
    # Once takeovers are allowed again (Postgres answered long enough), ctl-b takes it.
    assert [r.id for r in _mine(await repo.due(later, lease=LEASE), {held, free})] == [held, free]
    assert await repo.claim(held, "ctl-b", later, lease=LEASE) is not None


async def test_a_taken_over_attempt_that_reached_the_customer_is_not_dialled_again(
    sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo
) -> None:
    """The controller died while the customer talked to the agent: the customer was served,
    so the request closes as answered instead of being dialled a second time."""
    repo = CallbackRepository(sessions)
    rid = await _request(sessions, tenant, place=T0)
    now = T0 + timedelta(minutes=5)
    assert await repo.claim(rid, "ctl-a", now, lease=LEASE) is not None
    n = await repo.start_attempt(rid, "ctl-a", now, agent_login="agent1", agent_id=None)
    await repo.attempt_answered(rid, n, now + timedelta(seconds=12))
    later = now + timedelta(seconds=LEASE + 1)  # ctl-a was killed mid-conversation
    assert await repo.claim(rid, "ctl-b", later, lease=LEASE) is None
    (attempt,) = await repo.attempts(rid)
    assert attempt.result == CallbackResult.INTERRUPTED and attempt.answered_at is not None
    assert _mine(await repo.due(later, lease=LEASE), {rid}) == []
    async with transaction(sessions) as s:
        row = await s.get(ContactRequest, rid)
        assert row is not None
        assert (row.status, row.outcome, row.dialing_by) == ("done", "answered", None)


async def test_a_lease_whose_holder_is_down_by_its_heartbeat_is_free_at_once_not_one_up(
    sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo
) -> None:
    """Within the lease (60 s): a request held by a controller down by its heartbeat (silent
    past down_after, or stopped) is due and claimed at once, its open attempt closed; one
    held by a controller that is up, or by one without heartbeat rows, is not taken."""
    down_after = 10.0  # LINJA_CONTROLLER_DOWN_AFTER's default
    beats = ControllerRepository(sessions, down_after=down_after)
    tag = uuid.uuid4().hex[:8]
    silent, stopped, up, unknown = (f"{n}:{tag}" for n in ("silent", "stopped", "up", "nobeat"))
    for ctl in (silent, stopped, up):
        await beats.register(ctl, "127.0.0.3")
    await beats.stop(stopped)
    async with transaction(sessions) as s:  # its last beat a minute ago (a lost node)
        await s.execute(
            update(ControllerRow)
            .where(ControllerRow.id == silent)
            .values(beat_at=func.now() - timedelta(minutes=1))
        )
    now = datetime.now(UTC)  # the heartbeats are on the database's clock
    holders = (silent, stopped, up, unknown)
    rids = [
        await _request(sessions, tenant, place=now - timedelta(minutes=5, seconds=-i))
        for i in range(len(holders))
    ]
    repo = CallbackRepository(sessions, down_after=down_after)
    for rid, holder in zip(rids, holders, strict=True):
        assert await repo.claim(rid, holder, now, lease=LEASE) is not None
        await repo.start_attempt(rid, holder, now, agent_login="agent1", agent_id=None)
    later = now + timedelta(seconds=2)  # well within the lease
    by_silent, by_stopped, by_up, by_unknown = rids

    # Without heartbeats (down_after None) the lease alone counts: nothing is free.
    lease_only = CallbackRepository(sessions)
    assert _mine(await lease_only.due(later, lease=LEASE), set(rids)) == []
    assert await lease_only.claim(by_silent, "taker", later, lease=LEASE) is None
    # Takeovers not allowed yet (this controller's takeover grace): not taken either.
    assert await repo.claim(by_silent, "taker", later, lease=LEASE, takeovers=False) is None

    due = _mine(await repo.due(later, lease=LEASE), set(rids))
    assert [r.id for r in due] == [by_silent, by_stopped]
    # The refusals: a holder that is up, and one the heartbeat table does not know.
    assert await repo.claim(by_up, "taker", later, lease=LEASE) is None
    assert await repo.claim(by_unknown, "taker", later, lease=LEASE) is None
    for rid in (by_silent, by_stopped):
        taken = await repo.claim(rid, "taker", later, lease=LEASE)
        assert taken is not None and taken.id == rid
        (attempt,) = await repo.attempts(rid)
        assert attempt.result == CallbackResult.INTERRUPTED and attempt.ended_at == later
    assert not await repo.renew(by_silent, silent, later)  # the lost one's lease is gone
    assert await repo.renew(by_up, up, later)  # the live one keeps its lease
    for rid in (by_up, by_unknown):
        (attempt,) = await repo.attempts(rid)
        assert attempt.result is None and attempt.ended_at is None
    async with transaction(sessions) as s:
        rows = {
            r.id: r.dialing_by
            for r in await s.scalars(select(ContactRequest).where(ContactRequest.id.in_(rids)))
        }
    assert rows == {by_silent: "taker", by_stopped: "taker", by_up: up, by_unknown: unknown}
    # The holder without heartbeat rows: judged by the lease alone, taken once it expires.
    expired = now + timedelta(seconds=LEASE + 1)
    assert await repo.claim(by_unknown, "taker", expired, lease=LEASE) is not None
