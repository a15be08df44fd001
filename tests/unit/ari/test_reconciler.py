"""The reconciler's decisions, and what it does about them, against the fake ARI (issue 15)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from ivr.ari.call import Call
from ivr.ari.dispatcher import Dispatcher
from ivr.ari.errors import AriUnavailable, ChannelGone
from ivr.ari.reconciler import Decision, Reconciler, decide
from tests.unit.fake_ari import FakeAri


class View:
    def __init__(
        self,
        *,
        flows: set[str] = frozenset(),  # type: ignore[assignment]
        tracked: set[str] = frozenset(),  # type: ignore[assignment]
        ended: set[str] = frozenset(),  # type: ignore[assignment]
        failed: set[str] = frozenset(),  # type: ignore[assignment]
    ) -> None:
        self.flows, self.tracked, self.ended, self.failed = flows, tracked | flows, ended, failed

    def flow_channels(self) -> frozenset[str]:
        return frozenset(self.flows)

    def tracks(self, channel_id: str) -> bool:
        return channel_id in self.tracked

    def ended_recently(self, channel_id: str) -> bool:
        return channel_id in self.ended

    def failed_recently(self, channel_id: str) -> bool:
        return channel_id in self.failed


def channel(cid: str, app_data: str = "linja,announcement,demo", app: str = "Stasis") -> Any:
    return {"id": cid, "state": "Ring", "dialplan": {"app_name": app, "app_data": app_data}}


def test_decisions_for_every_kind_of_difference() -> None:
    channels = [
        channel("running"),
        channel("lost-start"),
        channel("failed"),
        channel("finished"),
        channel("other-app", "someoneelse,x"),
        channel("in-dialplan", "", app="Playback"),
    ]
    view = View(
        flows={"running", "vanished"},
        ended={"failed", "finished", "in-dialplan"},
        failed={"failed"},
    )
    assert sorted(decide(channels, view, "linja"), key=lambda d: d.channel_id) == [
        Decision("failed", "continue", "its flow failed on ARI"),
        Decision("finished", "hangup", "its flow ended, the channel stayed"),
        Decision("lost-start", "adopt", "in the application without a flow"),
        Decision("vanished", "forget", "Asterisk has no such channel"),
    ]


def test_nothing_to_do_when_both_sides_agree() -> None:
    assert decide([channel("a"), channel("b")], View(flows={"a", "b"}), "linja") == []


class Actions:
    def __init__(self) -> None:
        self.done: Counter[str] = Counter()

    def reconciled(self, action: str) -> None:
        self.done[action] += 1


def setup(flow: Any, **dispatcher: Any) -> tuple[FakeAri, Dispatcher, Reconciler, Actions]:
    fake = FakeAri()
    d = Dispatcher(fake, flow, app="linja", **dispatcher)
    fake.attach(d)
    actions = Actions()
    rec = Reconciler(fake, d, "linja", interval=1.0, actions=actions, connected=lambda: True)
    return fake, d, rec, actions


async def test_a_channel_whose_stasis_start_was_lost_is_adopted_on_the_second_pass() -> None:
    started: list[str] = []

    async def flow(call: Call) -> None:
        started.append(call.channel_id)
        await call.hangup()

    fake, d, rec, actions = setup(flow)
    fake.detach()
    fake.start_call("lost", args=["announcement", "demo"])
    fake.attach(d)
    assert await rec.reconcile() == []  # seen once: its StasisStart may be on its way
    assert started == []
    assert [x.action for x in await rec.reconcile()] == ["adopt"]
    await fake.wait_calls_done()
    assert started == ["lost"]
    assert actions.done == {"adopt": 1}
    assert "lost" not in fake.channels


async def test_a_flow_that_failed_on_ari_goes_to_the_fallback_label() -> None:
    async def flow(call: Call) -> None:
        await call.answer()

    fake, d, rec, actions = setup(flow, fallback_label="shed")
    down = AriUnavailable("ServerDisconnectedError")
    fake.set_response("POST", "/channels/c1/answer", down)
    fake.set_response("POST", "/channels/c1/continue", down)
    fake.start_call("c1", args=["announcement", "demo"])
    await fake.wait_calls_done()
    assert "c1" in fake.channels, "ARI refused everything: the channel is still in Stasis"
    assert d.failed_recently("c1")

    del fake.responses[("POST", "/channels/c1/continue")]  # ARI is back
    await rec.reconcile()
    assert [x.action for x in await rec.reconcile()] == ["continue"]
    assert fake.requests[-1] == ("POST", "/channels/c1/continue", {"label": "shed"}, None)
    assert actions.done == {"continue": 1}


async def test_the_dispatcher_itself_falls_back_when_ari_takes_the_continue() -> None:
    async def flow(call: Call) -> None:
        await call.answer()

    fake, _d, rec, _actions = setup(flow, fallback_label="shed")
    fake.set_response("POST", "/channels/c1/answer", AriUnavailable("dropped"))
    fake.start_call("c1", args=["announcement", "demo"])
    await fake.wait_calls_done()
    assert fake.requests_to("POST", "/channels/c1/continue")[0][2] == {"label": "shed"}
    assert not fake.requests_to("DELETE", "/channels/c1")
    await asyncio.sleep(0)  # the fake's StasisEnd
    await rec.reconcile()
    assert await rec.reconcile() == []


async def test_an_ended_flow_whose_hangup_failed_is_hung_up() -> None:
    async def flow(call: Call) -> None:
        await call.answer()

    fake, _d, rec, actions = setup(flow)
    fake.set_response("DELETE", "/channels/c1", AriUnavailable("dropped"))
    fake.start_call("c1", args=["announcement", "demo"])
    await fake.wait_calls_done()
    assert "c1" in fake.channels
    del fake.responses[("DELETE", "/channels/c1")]
    await rec.reconcile()
    assert [x.action for x in await rec.reconcile()] == ["hangup"]
    assert "c1" not in fake.channels
    assert actions.done == {"hangup": 1}


async def test_a_continue_without_a_shed_label_becomes_a_hangup() -> None:
    fake, _d, rec, _actions = setup(lambda call: call.answer(), fallback_label="shed")
    fake.set_response(
        "POST", "/channels/c1/continue", ChannelGone(404, "POST", "/x", "label not found")
    )
    fake.set_response("POST", "/channels/c1/answer", AriUnavailable("dropped"))
    fake.set_response("DELETE", "/channels/c1", AriUnavailable("dropped"))
    fake.start_call("c1", args=["announcement", "demo"])
    await fake.wait_calls_done()
    del fake.responses[("DELETE", "/channels/c1")]
    await rec.reconcile()
    assert [x.action for x in await rec.reconcile()] == ["continue"]
    assert "c1" not in fake.channels


async def test_a_flow_whose_channel_vanished_is_ended() -> None:
    ended: list[str] = []

    async def flow(call: Call) -> None:
        try:
            await call.wait_event({"Never"})
        finally:
            ended.append(call.channel_id)

    fake, d, rec, actions = setup(flow)
    fake.start_call("ghost", args=["announcement", "demo"])
    await asyncio.sleep(0)
    del fake.channels["ghost"]  # gone, and its events lost
    await rec.reconcile()
    assert ended == []
    assert [x.action for x in await rec.reconcile()] == ["forget"]
    await fake.wait_calls_done()
    assert ended == ["ghost"] and d.active_calls == 0
    assert actions.done == {"forget": 1}


async def test_a_difference_gone_by_the_next_pass_is_left_alone() -> None:
    fake, d, rec, actions = setup(lambda call: call.hangup())
    fake.detach()
    fake.start_call("late", args=["announcement", "demo"])
    await rec.reconcile()
    fake.attach(d)
    fake.emit({"type": "StasisStart", "args": ["announcement", "demo"], "channel": channel("late")})
    await fake.wait_calls_done()
    assert await rec.reconcile() == []
    assert actions.done == {}


async def test_nothing_is_done_while_the_event_stream_is_down() -> None:
    fake = FakeAri()
    d = Dispatcher(fake, lambda call: call.hangup(), app="linja")
    rec = Reconciler(fake, d, "linja", interval=1.0, actions=Actions(), connected=lambda: False)
    fake.start_call("c1", args=["announcement", "demo"])
    for _ in range(3):
        assert await rec.reconcile() == []
    assert fake.requests == []


@pytest.mark.parametrize("action", ["continue", "hangup"])
async def test_a_failed_action_is_counted_and_tried_again_later(action: str) -> None:
    async def flow(call: Call) -> None:
        await call.answer()

    fake, _d, rec, actions = setup(flow)
    down = AriUnavailable("dropped")
    if action == "continue":
        fake.set_response("POST", "/channels/c1/answer", down)
        fake.set_response("POST", "/channels/c1/continue", down)
    fake.set_response("DELETE", "/channels/c1", down)
    fake.start_call("c1", args=["announcement", "demo"])
    await fake.wait_calls_done()
    await rec.reconcile()
    await rec.reconcile()
    assert actions.done == {"failed": 1}
    assert "c1" in fake.channels
