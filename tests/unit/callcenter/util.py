from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ivr.callcenter.engine import QueueEngine
from ivr.flowdefs.model import Queue, Strategy, Target

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OVERFLOW = Target("voicemail", "support")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def make_queue(
    name: str = "support",
    agents: tuple[str, ...] = ("alice", "bob"),
    strategy: Strategy = "longest-idle",
    **kw: float | int,
) -> Queue:
    return Queue(
        name=name,
        agents=agents,
        strategy=strategy,
        ring_timeout=float(kw.get("ring_timeout", 15.0)),
        wrap_up=float(kw.get("wrap_up", 5.0)),
        max_wait=float(kw.get("max_wait", 600.0)),
        max_length=int(kw.get("max_length", 20)),
        overflow=OVERFLOW,
        announce_interval=float(kw.get("announce_interval", 30.0)),
    )


def engine_with(*queues: Queue, logged_in: tuple[str, ...] = (), now: datetime = T0) -> QueueEngine:
    engine = QueueEngine({q.name: q for q in queues}, default_service_time=120.0)
    for agent in logged_in:
        engine.board.login(agent, now)
    return engine


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now
