"""Issue 16, retention of member data: a call-out keeps who was called (its members' link to
their group membership: name, numbers) and the numbers dialled; past the tenant's case
retention the sweep's call-out step leaves an ended call-out with its outcomes and times
only. A removed member's data goes at once; what their attempts kept (the numbers) goes with
the retention like everyone's. A member still in the group keeps their membership."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.domain import Actor, TenantInfo
from storage.models import CalloutAttempt, CalloutMember
from storage.repositories.callouts import CalloutRepository, NewCallout
from storage.repositories.staff import StaffGroupRepository

SWEEP = Actor.system("test-sweep")


async def _sweep(repo: CalloutRepository, tenant: TenantInfo, now: datetime) -> int:
    total = 0
    while done := await repo.blank_expired_numbers(tenant.id, now, SWEEP, limit=1):
        total += done
    return total


async def test_callout_retention_old_callouts_and_removed_members_keep_no_personal_data(
    sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo
) -> None:
    groups = StaffGroupRepository(sessions)
    group = await groups.create_group(tenant.id, f"g-{uuid.uuid4().hex[:6]}")
    aino = await groups.add_member(group.id, "Aino", "+358401710001")
    eero = await groups.add_member(group.id, "Eero", "+358401710002")
    repo = CalloutRepository(sessions)
    callout_id = await repo.create(
        NewCallout(
            tenant_id=tenant.id, group_id=group.id, escalate_group_id=None, message="Hälytys.",
            language="fi", needed=1, wait_seconds=600, window_seconds=3600, max_attempts=3,
            retry_delay=60, ring_seconds=20, max_parallel=5, pin_required=False,
            created_by="test",
        )
    )  # fmt: skip
    started = datetime.now(UTC)
    members = await repo.members(callout_id)
    for m, number in zip(members, ("+358401710001", "+358401710002"), strict=True):
        assert await repo.claim(m.id, "ctl", started, lease=30, total_cap=10) is not None
        no = await repo.start_attempt(m.id, number, f"co-{uuid.uuid4().hex[:8]}", "ctl", started)
        await repo.end_attempt(
            m.id, no, "ctl", started, outcome="no_answer", key=None, state="failed",
            next_at=None,
        )  # fmt: skip
    assert await repo.finish(callout_id, "exhausted", started)
    await groups.remove_member(eero.id)  # Eero's name and numbers go at once

    # Within the retention: nothing changes (the report still says who was called).
    before = started + tenant.case_retention - timedelta(hours=1)
    assert await _sweep(repo, tenant, before) == 0
    assert [m.name for m in await repo.members(callout_id)] == ["Aino", None]

    # Past it: the call-out keeps its members' places, states and attempts' outcomes and
    # times, and nothing that says who they were.
    after = started + tenant.case_retention + timedelta(hours=1)
    assert await _sweep(repo, tenant, after) >= 3  # 2 numbers blanked, Aino unlinked
    kept = await repo.members(callout_id)
    assert [(m.position, m.state, m.attempts) for m in kept] == [(1, "failed", 1), (2, "failed", 1)]
    assert [(m.member_id, m.name, m.numbers) for m in kept] == [(None, None, ())] * 2
    attempts = await repo.attempts(callout_id)
    assert [(a.number, a.outcome) for a in attempts] == [(None, "no_answer")] * 2
    async with sessions() as s:
        linked = await s.scalars(
            select(CalloutMember.member_id).where(CalloutMember.callout_id == callout_id)
        )
        assert list(linked) == [None, None]
        numbers = await s.scalars(
            select(CalloutAttempt.number).where(
                CalloutAttempt.callout_member_id.in_([m.id for m in kept])
            )
        )
        assert list(numbers) == [None, None]
    # Aino is still in the group: her membership is the feature's working data, kept.
    assert [m.id for m in await groups.members(group.id)] == [aino.id]
    assert await _sweep(repo, tenant, after) == 0  # nothing left to do
