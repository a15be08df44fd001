"""Call-out member claims on the real Postgres, under the dialers' one lease
(storage/repositories/_lease.py, the callback requests' too): an expired lease is taken over
only when takeovers are allowed (takeover_grace), and an attempt the member had answered is
closed as answered at the takeover, like a callback whose customer had answered."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.domain import TenantInfo
from storage.repositories.callouts import CalloutRepository, NewCallout
from storage.repositories.controllers import ControllerRepository
from storage.repositories.staff import StaffGroupRepository

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LEASE = 30.0


async def _callout(
    sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo, members: int
) -> tuple[CalloutRepository, list[uuid.UUID]]:
    groups = StaffGroupRepository(sessions)
    group = await groups.create_group(tenant.id, f"g-{uuid.uuid4().hex[:6]}")
    for i in range(members):
        await groups.add_member(group.id, f"Member {i}", f"+35840170{i:04d}")
    repo = CalloutRepository(sessions)
    callout_id = await repo.create(
        NewCallout(
            tenant_id=tenant.id, group_id=group.id, escalate_group_id=None, message="Hälytys.",
            language="fi", needed=1, wait_seconds=600, window_seconds=3600, max_attempts=3,
            retry_delay=60, ring_seconds=20, max_parallel=5, pin_required=False,
            created_by="test",
        )
    )  # fmt: skip
    return repo, [m.id for m in await repo.members(callout_id)]


async def test_an_answered_attempt_found_at_takeover_is_closed_as_answered(
    sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo
) -> None:
    repo, (answered, rang) = await _callout(sessions, tenant, 2)
    for member, channel in ((answered, "co-answered"), (rang, "co-rang")):
        assert await repo.claim(member, "ctl-dead", T0, lease=LEASE, total_cap=10) is not None
        no = await repo.start_attempt(member, "+358401700000", channel, "ctl-dead", T0)
        if member == answered:
            await repo.attempt_answered(member, no, T0 + timedelta(seconds=3))
    later = T0 + timedelta(seconds=LEASE + 1)
    # Not before this controller may take over (Postgres has not answered it long enough).
    assert (
        await repo.claim(answered, "ctl-b", later, lease=LEASE, total_cap=10, takeovers=False)
        is None
    )
    taken = await repo.claim(answered, "ctl-b", later, lease=LEASE, total_cap=10)
    assert taken is not None and taken.orphans == ("co-answered",)
    assert taken.member.attempts == 1 and taken.member.dialing_by == "ctl-b"
    other = await repo.claim(rang, "ctl-b", later, lease=LEASE, total_cap=10)
    assert other is not None and other.orphans == ("co-rang",)
    outcomes = {a.channel_id: a.outcome for a in await repo.attempts(taken.member.callout_id)}
    assert outcomes == {"co-answered": "answered", "co-rang": "interrupted"}
    assert not await repo.renew(answered, "ctl-dead", later)  # the dead one lost it
    assert await repo.renew(answered, "ctl-b", later)


async def test_a_lease_whose_holder_is_down_by_its_heartbeat_is_taken_over_at_once(
    sessions: async_sessionmaker[AsyncSession], tenant: TenantInfo
) -> None:
    """Within the lease, but its holder's heartbeat older than down_after (a lost node):
    free for the claim, not counted against the caps, and shown not busy to the dialer."""
    _, (member, other) = await _callout(sessions, tenant, 2)
    beats = ControllerRepository(sessions, down_after=1.0)
    dead, alive = f"dead:{uuid.uuid4().hex[:8]}", f"alive:{uuid.uuid4().hex[:8]}"
    await beats.register(dead, "127.0.0.3")
    await beats.register(alive, "127.0.0.2")
    repo = CalloutRepository(sessions, down_after=1.0)
    now = datetime.now(UTC)
    assert await repo.claim(member, dead, now, lease=LEASE, total_cap=1) is not None
    await repo.start_attempt(member, "+358401700000", "co-lost", dead, now)
    # Its holder alive: busy, and the total cap (1) is used up by it.
    assert await repo.claim(member, alive, now, lease=LEASE, total_cap=1) is None
    assert await repo.claim(other, alive, now, lease=LEASE, total_cap=1) is None
    await asyncio.sleep(1.3)
    await beats.beat(alive, "127.0.0.2")
    later = datetime.now(UTC)  # still well within the lease (30 s)
    (row,) = [m for m in await repo.members((await repo.running())[-1].id) if m.id == member]
    assert row.holder_down and row.dialing_by == dead
    # Without heartbeats (down_after None) the lease alone counts: still held.
    lease_only = CalloutRepository(sessions)
    assert await lease_only.claim(member, alive, later, lease=LEASE, total_cap=5) is None
    taken = await repo.claim(member, alive, later, lease=LEASE, total_cap=1)
    assert taken is not None and taken.orphans == ("co-lost",)
    assert taken.member.dialing_by == alive and taken.member.attempts == 1
    assert not await repo.renew(member, dead, later)
