"""Issue 14, first item: how a caller leaves a queue, and the wait recorded for it.

Every feature is wired as ``linja serve`` does (fake ARI, a stepping clock, events folded
with :func:`storage.timing.apply` as the recorder does). The goodbye prompt after a refusal
or a timeout is held while the clock moves on, so a wait that ran past the exit shows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest

from ivr.callcenter.coordinator import QueueCoordinator
from ivr.flowdefs.model import CallbackConfig, Menu, Prompt, Queue, Target, TenantFlows
from ivr.prompts import PromptRenderer
from storage.events import CaseEnded, Outcome, QueueExit
from storage.timing import CaseState, apply
from tests.unit.fake_ari import FakeAri
from tests.unit.flows.support_recording import (
    SOUNDS,
    T0,
    TENANT,
    Clock,
    RestrictedNumbers,
    Sink,
    fake_speak,
    tenant_flows,
)
from tests.unit.wiring import Definitions, Directory, unit_core, unit_settings, wire_all

GOODBYE = "sound:goodbye"
FULL = "sound:full"
SALES = Queue(
    "sales",
    ("agent1",),
    max_wait=30,
    overflow=Target("hangup", "goodbye"),
    announce_interval=3600,
)


def flows(tmp_path: Path, queue: Queue = SALES) -> TenantFlows:
    base = tenant_flows(tmp_path)
    return replace(
        base,
        prompts={**base.prompts, "full": Prompt("full", sound="full")},
        menus={"main": Menu("main", "welcome", {"1": Target("queue", "sales")}, retries=1)},
        queues={"sales": queue},
    )


@dataclass
class World:
    fake: FakeAri
    sink: Sink
    clock: Clock
    queues: QueueCoordinator

    def case(self) -> CaseState:
        state: CaseState | None = None
        for event in self.sink.events:
            state = apply(state, event)
        assert state is not None and state.ended
        return state

    async def call_into_queue(self, channel: str = "c1") -> None:
        self.fake.start_call(channel, args=["menu", "acme"], exten="200")
        await self.fake.wait_until(lambda: "sound:welcome" in self.fake.media_played(channel))
        self.fake.dtmf(channel, "1")

    async def held(self, media: str) -> None:
        """Waits until ``media`` plays (held); then the clock runs on 5 s and it ends."""
        await self.fake.wait_until(lambda: media in self.fake.media_played())
        await asyncio.sleep(0.05)
        self.clock.advance(5)
        self.fake.finish_playback()
        await self.fake.wait_calls_done()


MakeWorld = Callable[[TenantFlows], Awaitable[World]]


@pytest.fixture
async def make_world(tmp_path: Path) -> AsyncIterator[MakeWorld]:
    async with AsyncExitStack() as stack:

        async def make(tenant: TenantFlows) -> World:
            fake = FakeAri(default_duration=0.001, hold_media=(GOODBYE, FULL))
            sink, clock = Sink(), Clock()
            core = unit_core(
                unit_settings(tmp_path),
                ari=fake,
                clock=clock,
                cases=sink,
                prompts=PromptRenderer(tmp_path / "sounds", SOUNDS, speak=fake_speak),
                definitions=Definitions(tenant),
                directory=Directory(tenant.tenant, TENANT),
                restrictions=RestrictedNumbers(),
            )
            await wire_all(core, stack)
            fake.attach(core.dispatcher)
            return World(fake, sink, clock, core.services.need(QueueCoordinator))

        yield make


async def test_overflow_no_agent_logged_in_is_overflowed_with_no_wait(
    tmp_path: Path, make_world: MakeWorld
) -> None:
    w = await make_world(flows(tmp_path))
    await w.call_into_queue()
    await w.held(GOODBYE)  # the goodbye after the refusal takes 5 s
    case = w.case()
    (stay,) = case.queue_stays
    assert stay.exit is QueueExit.OVERFLOWED  # was "abandoned"
    assert stay.wait == timedelta(0)  # was the goodbye's 5 s
    assert case.queue_wait == timedelta(0)
    assert case.outcome is Outcome.OVERFLOWED
    assert case.ended_at == T0 + timedelta(seconds=5)  # the case itself lasts till the end


async def test_overflow_queue_full_is_overflowed(tmp_path: Path, make_world: MakeWorld) -> None:
    w = await make_world(flows(tmp_path, replace(SALES, max_length=1)))
    w.queues.login("agent1")
    w.queues.pause("agent1")  # logged in, so nobody is refused for want of agents
    w.queues.join("someone-else", "acme/sales")  # the one place is taken
    await w.call_into_queue()
    await w.held(GOODBYE)
    (stay,) = w.case().queue_stays
    assert (stay.exit, stay.wait) == (QueueExit.OVERFLOWED, timedelta(0))


async def test_timeout_after_max_wait_goes_to_the_timeout_target(
    tmp_path: Path, make_world: MakeWorld
) -> None:
    queue = replace(SALES, timeout=Target("hangup", "full"))
    w = await make_world(flows(tmp_path, queue))
    w.queues.login("agent1")
    w.queues.pause("agent1")  # staffed, but nobody answers
    await w.call_into_queue()
    await w.fake.wait_until(lambda: w.queues.stats("acme/sales").live == 1)
    w.clock.advance(31)
    w.queues.tick()  # the engine's tick finds the wait ran out
    await w.held(FULL)  # the timeout target's prompt, not the overflow's goodbye
    assert GOODBYE not in w.fake.media_played()
    case = w.case()
    (stay,) = case.queue_stays
    assert stay.exit is QueueExit.TIMEOUT  # was "abandoned"
    assert stay.wait == timedelta(seconds=31)  # was 36 s: the prompt after it counted
    assert case.outcome is Outcome.OVERFLOWED


async def test_timeout_without_a_timeout_target_goes_to_the_overflow_target(
    tmp_path: Path, make_world: MakeWorld
) -> None:
    w = await make_world(flows(tmp_path))
    w.queues.login("agent1")
    w.queues.pause("agent1")
    await w.call_into_queue()
    await w.fake.wait_until(lambda: w.queues.stats("acme/sales").live == 1)
    w.clock.advance(40)
    w.queues.tick()
    await w.held(GOODBYE)
    (stay,) = w.case().queue_stays
    assert (stay.exit, stay.wait) == (QueueExit.TIMEOUT, timedelta(seconds=40))


async def test_abandon_caller_hangs_up_while_waiting(tmp_path: Path, make_world: MakeWorld) -> None:
    w = await make_world(flows(tmp_path))
    w.queues.login("agent1")
    w.queues.pause("agent1")
    await w.call_into_queue()
    await w.fake.wait_until(lambda: w.queues.stats("acme/sales").live == 1)
    w.clock.advance(12)
    w.fake.hangup("c1")
    await w.fake.wait_calls_done()
    case = w.case()
    (stay,) = case.queue_stays
    assert (stay.exit, stay.wait) == (QueueExit.ABANDONED, timedelta(seconds=12))
    assert case.outcome is Outcome.ABANDONED
    assert w.queues.stats("acme/sales").live == 0


async def test_callback_key_ends_the_wait_at_the_key_press(
    tmp_path: Path, make_world: MakeWorld
) -> None:
    queue = replace(SALES, callback=CallbackConfig(offer_in_queue=True))
    w = await make_world(flows(tmp_path, queue))
    w.queues.login("agent1")
    w.queues.pause("agent1")
    await w.call_into_queue()
    await w.fake.wait_until(lambda: w.queues.stats("acme/sales").live == 1)
    w.clock.advance(20)
    played = len(w.fake.media_played("c1"))
    w.fake.dtmf("c1", "1")  # "press 1 to be called back"
    await w.fake.wait_until(lambda: len(w.fake.media_played("c1")) > played + 3)
    await asyncio.sleep(0.1)
    w.clock.advance(8)  # the caller listens to their number being read back
    w.fake.dtmf("c1", "1")  # and confirms it
    await w.fake.wait_calls_done()
    case = w.case()
    (stay,) = case.queue_stays
    assert stay.exit is QueueExit.CALLBACK
    assert stay.wait == timedelta(seconds=20)  # was 28 s: until the request was stored
    assert case.outcome is Outcome.CALLBACK_REQUESTED
    assert [e.outcome for e in w.sink.of(CaseEnded)] == [Outcome.CALLBACK_REQUESTED]
