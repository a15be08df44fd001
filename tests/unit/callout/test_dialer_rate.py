"""Issue 16 item 3, the dialer's rate: every free slot of a call-out is claimed in one claim
(the caps are counted once, under the claim lock), and the calls then start at most ``rate``
a second, their turns reserved in order. A restriction check that cannot be made leaves the
member pending for later (not failed)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from ivr.callout.call import CallResult, CallSpec, MemberCall
from ivr.callout.dialer import CalloutConfig, CalloutDialer
from ivr.callout.outbox import CalloutOutbox
from ivr.callout.policy import AttemptOutcome
from storage.errors import StorageUnavailable
from storage.repositories.callouts import CalloutMemberRow, CalloutRow, Claim
from tests.unit.callcenter.util import FakeClock

TENANT = uuid.uuid4()
RATE = 20.0


class Store:
    """Members of one call-out (needed: all of them) and the claims asked of it."""

    def __init__(self, clock: FakeClock, members: int, max_parallel: int) -> None:
        self.clock = clock
        self.callout = CalloutRow(
            id=uuid.uuid4(), tenant_id=TENANT, tenant="demo", group_id=None,
            escalate_group_id=None, message="Hälytys.", audio_sha256=None, language="fi",
            needed=members, wait_seconds=600, window_seconds=3600, max_attempts=3,
            retry_delay=60, ring_seconds=5, max_parallel=max_parallel, pin_required=False,
            status="running", started_at=clock(), escalated_at=None, ended_at=None,
            created_by="test",
        )  # fmt: skip
        self.rows = {
            m.id: m
            for m in (
                CalloutMemberRow(
                    id=uuid.uuid4(),
                    callout_id=self.callout.id,
                    member_id=uuid.uuid4(),
                    position=i,
                    escalation=False,
                    state="pending",
                    attempts=0,
                    next_at=None,
                    dialing_by=None,
                    dialing_since=None,
                    decided_at=None,
                    name=f"M{i}",
                    numbers=(f"+35840160{i:04d}",),
                    pin_hash=None,
                )
                for i in range(1, members + 1)
            )
        }
        self.claims: list[int] = []  # how many members each claim asked for
        self.released: list[tuple[str | None, datetime | None]] = []

    def leased(self) -> int:
        return sum(1 for m in self.rows.values() if m.dialing_by is not None)

    async def running(self) -> list[CalloutRow]:
        return [self.callout] if self.callout.status == "running" else []

    async def members(self, callout_id: uuid.UUID) -> list[CalloutMemberRow]:
        return sorted(self.rows.values(), key=lambda m: m.position)

    async def claim_many(
        self, ids: Sequence[uuid.UUID], controller: str, now: datetime, *, lease: float,
        total_cap: int, takeovers: bool = True,
    ) -> list[Claim]:  # fmt: skip
        self.claims.append(len(ids))
        room = min(self.callout.max_parallel, total_cap) - self.leased()
        taken = []
        for member_id in ids:
            m = self.rows[member_id]
            if room <= 0 or m.state != "pending" or m.dialing_by is not None:
                continue
            if m.next_at is not None and m.next_at > now:
                continue
            room -= 1
            self.rows[member_id] = replace(m, dialing_by=controller, dialing_since=now)
            taken.append(Claim(self.rows[member_id], ()))
        return taken

    async def renew(self, *args: Any) -> bool:
        return True

    async def release(
        self, member_id: uuid.UUID, controller: str, *, state: str | None = None,
        now: datetime | None = None, next_at: datetime | None = None,
    ) -> None:  # fmt: skip
        m = self.rows[member_id]
        self.released.append((state, next_at))
        self.rows[member_id] = replace(
            m, dialing_by=None, dialing_since=None, state=state or m.state, next_at=next_at
        )

    async def start_attempt(self, *args: Any) -> int:
        return 1

    async def attempt_answered(self, *args: Any) -> None:
        return None

    async def end_attempt(
        self, member_id: uuid.UUID, attempt_no: int, controller: str, at: datetime, *,
        outcome: str, key: str | None, state: str, next_at: datetime | None,
        counts: bool = True, keep_lease: bool = False,
    ) -> bool:  # fmt: skip
        m = self.rows[member_id]
        self.rows[member_id] = replace(m, state=state, attempts=m.attempts + 1)
        if not keep_lease:
            self.rows[member_id] = replace(
                self.rows[member_id], dialing_by=None, dialing_since=None
            )
        return True

    async def finish(self, callout_id: uuid.UUID, status: str, now: datetime) -> bool:
        self.callout = replace(self.callout, status=status)
        return True

    async def audio(self, callout_id: uuid.UUID) -> bytes:
        return b""

    async def escalate(self, callout_id: uuid.UUID, now: datetime) -> int:
        return 0


class Members:
    """Member calls that start (their loop time noted) and wait until let go, then confirm."""

    def __init__(self) -> None:
        self.started: list[float] = []
        self.go = asyncio.Event()

    async def run(
        self,
        spec: CallSpec,
        answered: Callable[[datetime], Awaitable[None]],
        decided: Callable[[AttemptOutcome, str], Awaitable[None]],
    ) -> CallResult:
        self.started.append(asyncio.get_running_loop().time())
        await self.go.wait()
        await decided(AttemptOutcome.CONFIRMED, "1")
        return CallResult(AttemptOutcome.CONFIRMED, "1", None)


class Restrictions:
    def __init__(self, *, down: bool = False) -> None:
        self.down = down

    async def is_restricted(self, tenant_id: uuid.UUID, **_: Any) -> bool:
        if self.down:
            raise StorageUnavailable("connection refused")
        return False


def dialer(store: Store, call: Members, spool: Path, restrictions: Restrictions) -> CalloutDialer:
    async def hangup(channel_id: str) -> None:
        return None

    return CalloutDialer(
        store,
        cast(MemberCall, call),
        store.clock,
        CalloutConfig(controller_id="ctl-1", poll_interval=0.02, rate=RATE, total_cap=30),
        restrictions=restrictions,
        hangup_orphan=hangup,
        outcomes=CalloutOutbox(spool),
    )


async def _until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:  # noqa: ASYNC109
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"condition not met within {timeout} s")


async def test_item3_free_slots_are_claimed_at_once_and_calls_start_at_the_rate(
    tmp_path: Path,
) -> None:
    store = Store(FakeClock(), members=8, max_parallel=5)
    calls = Members()
    task = asyncio.create_task(dialer(store, calls, tmp_path, Restrictions()).run())
    try:
        await _until(lambda: len(calls.started) == 5)
        assert store.claims[0] == 5  # one claim for the five free slots
        assert store.leased() == 5
        gaps = [b - a for a, b in zip(calls.started, calls.started[1:], strict=False)]
        # at most RATE new calls a second (the turns are exact; the loop adds some jitter)
        assert calls.started[-1] - calls.started[0] >= 4 / RATE * 0.9, gaps
        assert min(gaps) >= 0.5 / RATE, gaps
        await asyncio.sleep(0.2)
        assert len(calls.started) == 5 and store.leased() == 5  # the cap holds
        calls.go.set()  # they confirm: the other three are claimed together and called
        await _until(lambda: len(calls.started) == 8)
        await _until(lambda: store.callout.status == "confirmed")
        assert 3 in store.claims
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_item3_a_restriction_check_that_fails_leaves_the_member_pending(
    tmp_path: Path,
) -> None:
    store = Store(FakeClock(), members=1, max_parallel=1)
    calls = Members()
    restrictions = Restrictions(down=True)
    task = asyncio.create_task(dialer(store, calls, tmp_path, restrictions).run())
    try:
        await _until(lambda: bool(store.released))
        (member,) = store.rows.values()
        assert member.state == "pending" and member.dialing_by is None
        state, later = store.released[0]
        assert state == "pending" and later is not None and later > store.clock()
        assert calls.started == []
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
