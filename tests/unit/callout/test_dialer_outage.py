"""Durable call-out outcomes: with Postgres down mid-call, the member's answer, confirmation
and release go to the fsync'd outcome spool, nothing is claimed while it holds them (also
after a restart), and they are written in order once Postgres is back: the confirmation is
not lost and the member is not called again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
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


class Store:
    """One running call-out of one member, in memory; ``down`` = Postgres unavailable."""

    def __init__(self, clock: FakeClock) -> None:
        self.down = False
        self.clock = clock
        self.callout = CalloutRow(
            id=uuid.uuid4(), tenant_id=TENANT, tenant="demo", group_id=None,
            escalate_group_id=None, message="Hälytys.", audio_sha256=None, language="fi",
            needed=1, wait_seconds=600, window_seconds=3600, max_attempts=3, retry_delay=60,
            ring_seconds=5, max_parallel=2, pin_required=False, status="running",
            started_at=clock(), escalated_at=None, ended_at=None, created_by="test",
        )  # fmt: skip
        self.member = CalloutMemberRow(
            id=uuid.uuid4(), callout_id=self.callout.id, member_id=uuid.uuid4(), position=1,
            escalation=False, state="pending", attempts=0, next_at=None, dialing_by=None,
            dialing_since=None, decided_at=None, name="Aino", numbers=("+358401600001",),
            pin_hash=None,
        )  # fmt: skip
        self.claims = 0
        self.writes: list[str] = []  # what reached "Postgres", in order

    def _up(self) -> None:
        if self.down:
            raise StorageUnavailable("connection refused")

    async def running(self) -> list[CalloutRow]:
        self._up()
        return [self.callout] if self.callout.status == "running" else []

    async def members(self, callout_id: uuid.UUID) -> list[CalloutMemberRow]:
        self._up()
        return [self.member]

    async def claim_many(
        self,
        callout_member_ids: Sequence[uuid.UUID],
        controller: str,
        now: datetime,
        *,
        lease: float,
        total_cap: int,
        takeovers: bool = True,
    ) -> list[Claim]:
        self._up()
        if self.member.id not in callout_member_ids:
            return []
        if self.member.state != "pending" or self.member.dialing_by is not None:
            return []
        self.claims += 1
        self.member = replace(self.member, dialing_by=controller, dialing_since=now)
        return [Claim(self.member, ())]

    async def renew(self, member_id: uuid.UUID, controller: str, now: datetime) -> bool:
        self._up()
        return True

    async def release(
        self,
        callout_member_id: uuid.UUID,
        controller: str,
        *,
        state: str | None = None,
        now: datetime | None = None,
        next_at: datetime | None = None,
    ) -> None:
        self._up()
        self.writes.append("release")
        self.member = replace(self.member, dialing_by=None, dialing_since=None)

    async def start_attempt(self, *args: Any) -> int:
        self._up()
        self.writes.append("start")
        return 1

    async def attempt_answered(self, member_id: uuid.UUID, attempt_no: int, at: datetime) -> None:
        self._up()
        self.writes.append(f"answered {attempt_no}")

    async def end_attempt(
        self, member_id: uuid.UUID, attempt_no: int, controller: str, at: datetime, *,
        outcome: str, key: str | None, state: str, next_at: datetime | None,
        counts: bool = True, keep_lease: bool = False,
    ) -> bool:  # fmt: skip
        self._up()
        self.writes.append(f"end {attempt_no} {outcome} {key}")
        self.member = replace(self.member, state=state, attempts=self.member.attempts + 1)
        if not keep_lease:
            self.member = replace(self.member, dialing_by=None, dialing_since=None)
        return True

    async def finish(self, callout_id: uuid.UUID, status: str, now: datetime) -> bool:
        self._up()
        self.callout = replace(self.callout, status=status)
        return True

    async def audio(self, callout_id: uuid.UUID) -> bytes:
        return b""

    async def escalate(self, callout_id: uuid.UUID, now: datetime) -> int:
        return 0


class PressesOneWhilePostgresGoesDown:
    """A member call: answered, then Postgres goes down, then the member presses 1."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.calls = 0
        self.thanked = asyncio.Event()

    async def run(
        self,
        spec: CallSpec,
        answered: Callable[[datetime], Awaitable[None]],
        decided: Callable[[AttemptOutcome, str], Awaitable[None]],
    ) -> CallResult:
        self.calls += 1
        self.store.down = True
        at = self.store.clock()
        await answered(at)
        await decided(AttemptOutcome.CONFIRMED, "1")
        self.thanked.set()
        return CallResult(AttemptOutcome.CONFIRMED, "1", at)


class NoRestrictions:
    async def is_restricted(self, tenant_id: uuid.UUID, **_: Any) -> bool:
        return False


def dialer(store: Store, call: object, spool: Path, *, name: str = "ctl-1") -> CalloutDialer:
    async def hangup(channel_id: str) -> None:
        return None

    return CalloutDialer(
        store,
        cast(MemberCall, call),
        store.clock,
        CalloutConfig(controller_id=name, poll_interval=0.02, lease=30.0, takeover_grace=0.0),
        restrictions=NoRestrictions(),
        hangup_orphan=hangup,
        outcomes=CalloutOutbox(spool),
    )


async def _until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:  # noqa: ASYNC109
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"condition not met within {timeout} s")


def _spooled(spool: Path) -> str:
    return "".join(p.read_text() for p in sorted(spool.glob("*")) if p.is_file())


async def test_a_confirmation_made_while_postgres_is_down_is_spooled_and_written_later(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    store = Store(clock)
    call = PressesOneWhilePostgresGoesDown(store)
    spool = tmp_path / "spool"
    task = asyncio.create_task(dialer(store, call, spool).run())
    try:
        await asyncio.wait_for(call.thanked.wait(), 3)
        await _until(lambda: '"op":"release"' in _spooled(spool))
        spooled = _spooled(spool)
        assert '"outcome":"confirmed"' in spooled and '"digit":"1"' in spooled
        assert "+358" not in spooled and "Aino" not in spooled  # ids and outcomes only
        assert store.writes == ["start"] and store.member.state == "pending"
        await asyncio.sleep(0.1)
        assert store.claims == 1  # nothing claimed while the spool holds outcomes
        store.down = False  # Postgres is back: written in order, at the next poll
        await _until(lambda: store.callout.status != "running")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert store.writes == ["start", "answered 1", "end 1 confirmed 1", "release"]
    assert store.member.state == "confirmed" and store.callout.status == "confirmed"
    assert call.calls == 1 and store.claims == 1  # the confirmed member is not called again


async def test_a_restart_writes_the_spool_before_claiming_anything(tmp_path: Path) -> None:
    clock = FakeClock()
    store = Store(clock)
    call = PressesOneWhilePostgresGoesDown(store)
    spool = tmp_path / "spool"
    first = asyncio.create_task(dialer(store, call, spool).run())
    await asyncio.wait_for(call.thanked.wait(), 3)
    await _until(lambda: '"op":"release"' in _spooled(spool))
    first.cancel()  # the controller stops (or dies) with the outcome only in its spool
    await asyncio.gather(first, return_exceptions=True)
    store.down = False
    clock.advance(timedelta(minutes=5).total_seconds())
    store.member = replace(store.member, dialing_by=None)  # its lease is gone too
    again = PressesOneWhilePostgresGoesDown(store)
    second = asyncio.create_task(dialer(store, again, spool, name="ctl-1b").run())
    try:
        await _until(lambda: store.callout.status != "running")
    finally:
        second.cancel()
        await asyncio.gather(second, return_exceptions=True)
    assert store.member.state == "confirmed" and again.calls == 0
    assert store.writes == ["start", "answered 1", "end 1 confirmed 1", "release"]
