"""Controller heartbeats (issue 19): the beat task against a fake store, and the watch that
ends this controller's calls as node_lost once its Asterisk has been gone the bound."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ivr.heartbeat.asterisk_gone import AsteriskWatch
from ivr.heartbeat.beat import Heartbeat
from storage.errors import StorageUnavailable
from storage.repositories.controllers import LostCase

T0 = datetime(2026, 12, 1, 22, 0, tzinfo=UTC)


@dataclass
class FakeStore:
    calls: list[str] = field(default_factory=list)
    down: bool = False
    lost: list[LostCase] = field(default_factory=list)

    def _call(self, what: str) -> None:
        if self.down:
            raise StorageUnavailable("database down")
        self.calls.append(what)

    async def register(self, controller: str, node: str) -> None:
        self._call(f"register {controller} {node}")

    async def beat(self, controller: str, node: str) -> None:
        self._call(f"beat {controller}")

    async def stop(self, controller: str) -> None:
        self._call(f"stop {controller}")

    async def end_lost_cases(self, me: str, *, limit: int = 1000) -> list[LostCase]:
        self._call(f"reap not {me}")
        lost, self.lost = self.lost, []
        return lost


async def test_registers_then_beats_reaps_others_and_survives_an_outage() -> None:
    store = FakeStore()
    hb = Heartbeat(store, "h:1", "127.0.0.2", interval=1)
    assert await hb.once() == []
    store.down = True
    assert await hb.once() == []  # logged, not raised
    store.down = False
    case = LostCase(uuid.uuid4(), "h:2", T0)
    store.lost = [case]
    assert await hb.once() == [case]
    await hb.close()
    assert store.calls == [
        "register h:1 127.0.0.2", "reap not h:1", "beat h:1", "reap not h:1", "stop h:1",
    ]  # fmt: skip
    assert hb.lost_total == 1


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_the_calls_end_once_after_the_bound_and_not_before_the_stream_was_up() -> None:
    clock, up = Clock(), [False]
    ended: list[datetime] = []
    lost = [uuid.uuid4()]

    def end_open(at: datetime) -> list[uuid.UUID]:
        ended.append(at)
        return lost

    watch = AsteriskWatch(lambda: up[0], end_open, clock, bound=5, interval=1)
    for _ in range(10):  # never connected yet (controller starting): nothing
        clock.tick(1)
        assert watch.look() == []
    up[0] = True
    watch.look()
    up[0] = False
    clock.tick(1)
    gone_at = clock.now
    watch.look()  # the outage is seen
    clock.tick(4)
    assert watch.look() == [] and ended == []  # 4 s < bound
    clock.tick(1)
    assert watch.look() == lost and ended == [gone_at]
    clock.tick(10)
    assert watch.look() == [] and ended == [gone_at]  # once per outage
    up[0] = True
    watch.look()
    up[0] = False
    watch.look()
    clock.tick(6)
    assert watch.look() == lost and len(ended) == 2  # a new outage
