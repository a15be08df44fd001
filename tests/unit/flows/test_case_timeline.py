"""Issue 14, a case's timeline: the menu choices and the offers to agents are recorded.

Every feature is wired as ``linja serve`` does (fake ARI, a stepping clock, the events the
flows emit folded with :func:`storage.timing.apply` as the recorder does). Before this
change the flows emitted neither menu nor offer steps (``MenuChosen``/``AgentOffered`` did
not exist), so nothing of the menu or the ringing reached the case.
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
from ivr.clock import Clock as ClockType
from ivr.flowdefs.model import Menu, Queue, Target, TenantFlows
from ivr.flows.offers import OfferRound
from ivr.prompts import PromptRenderer
from storage.events import AgentOffered, MenuChosen, MenuResult, OfferResult
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

SALES = Queue(
    "sales", ("agent1", "agent2"), strategy="ring-all", ring_timeout=6, announce_interval=3600
)


def flows(tmp_path: Path, queue: Queue = SALES) -> TenantFlows:
    base = tenant_flows(tmp_path)
    menu = Menu(
        "main", "welcome", {"1": Target("queue", "sales")}, retries=3, first_digit_timeout=0.2
    )
    return replace(base, menus={"main": menu}, queues={"sales": queue})


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

    def legs(self) -> dict[str, str]:
        """The agent legs dialled so far: agent login -> channel id."""
        out: dict[str, str] = {}
        for _method, path, params, _body in self.fake.requests_to("POST", "/channels"):
            endpoint = str((params or {}).get("endpoint", ""))
            if path == "/channels" and endpoint.startswith("PJSIP/"):
                out[endpoint.removeprefix("PJSIP/")] = str((params or {})["channelId"])
        return out


MakeWorld = Callable[[TenantFlows], Awaitable[World]]


@pytest.fixture
async def make_world(tmp_path: Path) -> AsyncIterator[MakeWorld]:
    async with AsyncExitStack() as stack:

        async def make(tenant: TenantFlows) -> World:
            fake = FakeAri(default_duration=0.001)
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


async def _into_queue(w: World, *, wrong_first: str = "") -> None:
    w.fake.start_call("c1", args=["menu", "acme"], exten="200")
    await w.fake.wait_until(lambda: "sound:welcome" in w.fake.media_played("c1"))
    if wrong_first:
        w.fake.dtmf("c1", wrong_first)
        await w.fake.wait_until(lambda: w.fake.media_played("c1").count("sound:welcome") == 2)
    w.clock.advance(2)
    w.fake.dtmf("c1", "1")


async def test_menu_choice_and_answered_offer_are_timeline_steps(
    tmp_path: Path, make_world: MakeWorld
) -> None:
    w = await make_world(flows(tmp_path))
    w.queues.login("agent1")
    w.queues.login("agent2")
    await _into_queue(w, wrong_first="7")  # 7 is no option: its key must not be kept
    await w.fake.wait_until(lambda: len(w.legs()) == 2)
    w.clock.advance(3)  # it rings 3 s; agent2 declines, then agent1 answers
    legs = w.legs()
    w.fake.hangup(legs["agent2"], cause=21)
    await asyncio.sleep(0.05)
    w.clock.advance(1)
    w.fake.start_call(legs["agent1"], args=["agent-leg"])
    await w.fake.wait_until(lambda: w.fake.bridges)
    w.clock.advance(10)
    w.fake.hangup("c1")
    await w.fake.wait_calls_done()

    invalid, chosen = w.sink.of(MenuChosen)
    assert (invalid.menu, invalid.result, invalid.key, invalid.option) == (
        "main",
        MenuResult.INVALID,
        None,
        None,
    )
    assert (chosen.result, chosen.key, chosen.option) == (MenuResult.CHOSEN, "1", "queue:sales")
    assert chosen.at == T0 + timedelta(seconds=2)
    offers = {o.agent: o for o in w.sink.of(AgentOffered)}
    assert set(offers) == {"agent1", "agent2"}
    one, two = offers["agent1"], offers["agent2"]
    assert (one.result, one.queue, one.at) == (OfferResult.ANSWERED, "sales", chosen.at)
    assert one.ended_at == chosen.at + timedelta(seconds=4)  # rang 4 s, then answered
    assert (two.result, two.ended_at) == (OfferResult.DECLINED, chosen.at + timedelta(seconds=3))
    case = w.case()  # the recorder keeps them, in order, before the end
    assert case.menu_choices == (invalid, chosen)
    assert {o.agent for o in case.offers} == {"agent1", "agent2"}
    assert case.service_started_at == one.ended_at
    # Nothing the caller keyed but the option's key is anywhere in the steps.
    kept = {(m.key, m.option) for m in case.menu_choices}
    assert kept == {(None, None), ("1", "queue:sales")}


async def test_caller_hanging_up_while_it_rings_is_caller_left(
    tmp_path: Path, make_world: MakeWorld
) -> None:
    w = await make_world(flows(tmp_path, replace(SALES, agents=("agent1",))))
    w.queues.login("agent1")
    await _into_queue(w)
    await w.fake.wait_until(lambda: len(w.legs()) == 1)
    w.clock.advance(2)
    w.fake.hangup("c1")
    await w.fake.wait_calls_done()
    (offer,) = w.sink.of(AgentOffered)
    assert (offer.agent, offer.result) == ("agent1", OfferResult.CALLER_LEFT)
    assert offer.ended_at - offer.at == timedelta(seconds=2)
    (chosen,) = w.sink.of(MenuChosen)
    assert chosen.result is MenuResult.CHOSEN
    assert w.case().offers == (offer,)


async def test_no_input_is_a_step_without_a_key(tmp_path: Path, make_world: MakeWorld) -> None:
    menu = Menu(
        "main", "welcome", {"1": Target("queue", "sales")}, retries=1, first_digit_timeout=0.05
    )
    w = await make_world(replace(flows(tmp_path), menus={"main": menu}))
    w.fake.start_call("c1", args=["menu", "acme"], exten="200")
    await w.fake.wait_calls_done()
    (step,) = w.sink.of(MenuChosen)
    assert (step.result, step.key, step.option) == (MenuResult.NO_INPUT, None, None)


def _round(clock: ClockType) -> OfferRound:
    return OfferRound(TENANT, "sales", ("a", "b", "c"), 6.0, clock)


def test_a_leg_that_ends_at_the_ring_timeout_rang_out_not_declined() -> None:
    clock = Clock()
    ring = _round(clock)
    clock.advance(1)
    ring.rang_out("a", gone=True)  # refused after 1 s
    clock.advance(5)
    ring.rang_out("b", gone=True)  # ended by Asterisk at the 6 s ring timeout
    clock.advance(1)
    ring.rang_out("c", gone=False)  # our own timeout
    sink = Sink()

    async def no_user(login: str) -> None:
        return None

    asyncio.run(ring.emit(sink, OfferResult.MISSED, no_user, tag="t"))
    results = {o.agent: (o.result, o.ended_at - o.at) for o in sink.of(AgentOffered)}
    assert results == {
        "a": (OfferResult.DECLINED, timedelta(seconds=1)),
        "b": (OfferResult.TIMEOUT, timedelta(seconds=6)),
        "c": (OfferResult.TIMEOUT, timedelta(seconds=7)),
    }


def test_an_offer_is_kept_without_the_agent_id_when_it_cannot_be_looked_up() -> None:
    clock = Clock()
    ring = _round(clock)
    sink = Sink()

    async def down(login: str) -> None:
        raise ConnectionRefusedError("database down")

    asyncio.run(ring.emit(sink, OfferResult.TIMEOUT, down, tag="t"))
    assert [(o.agent, o.agent_id, o.result) for o in sink.of(AgentOffered)] == [
        ("a", None, OfferResult.TIMEOUT), ("b", None, OfferResult.TIMEOUT),
        ("c", None, OfferResult.TIMEOUT),
    ]  # fmt: skip
