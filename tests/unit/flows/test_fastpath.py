"""The bulletin fast path against FakeAri: served from the dispatcher with no Call and no
flow, counted, shed like a flow, failures left to the fallback label and the reconciler."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from typing import Any

import pytest

from ivr.ari.dispatcher import Dispatcher
from ivr.ari.errors import AriUnavailable, ChannelGone
from ivr.ari.protocol import Answered, Params
from ivr.ari.reconciler import SHED_LABEL, decide
from ivr.flows.announcement import FALLBACK_CONTEXT, FALLBACK_LABEL, AnnouncementFlow
from ivr.flows.fastpath import BulletinFastPath, HandedLog
from ivr.flows.router import FlowRouter
from tests.unit.fake_ari import FakeAri
from tests.unit.flows.test_announcement import (
    NUMBER_ID,
    T0,
    Counter,
    Fallbacks,
    Source,
    media,
    prepared,
)


class Events:
    def __init__(self) -> None:
        self.started: list[str] = []
        self.ended: list[str] = []
        self.shed: list[tuple[str, str]] = []

    def flow_started(self, flow: str) -> None:
        self.started.append(flow)

    def flow_ended(self, flow: str) -> None:
        self.ended.append(flow)

    def flow_shed(self, flow: str, reason: str) -> None:
        self.shed.append((flow, reason))


class Gate:
    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason

    def refuse(self, flow: str) -> str | None:
        return self.reason


class Now:
    """Requests written at once (``WsRest.send_now``), answered by the test."""

    def __init__(self, *, ready: bool = True) -> None:
        self.ready = ready
        self.sent: list[tuple[str, str, dict[str, Any], Answered]] = []

    def send_now(self, method: str, path: str, params: Params | None, answered: Answered) -> bool:
        if not self.ready:
            return False
        self.sent.append((method, path, dict(params or {}), answered))
        return True


class Rig:
    def __init__(
        self,
        source: Source,
        fallbacks: Fallbacks,
        *,
        refuse: str | None = None,
        now: Now | None = None,
    ):
        self.fake = FakeAri()
        self.counter = Counter()
        self.events = Events()
        flow = AnnouncementFlow(source, self.counter, lambda: T0, fallback=fallbacks)
        self.router = FlowRouter({"announcement": flow}, admission=Gate(refuse), events=self.events)
        self.flows_run = 0
        handle = self.router.handle

        async def counted_handle(call: Any) -> None:
            self.flows_run += 1
            await handle(call)

        self.dispatcher = Dispatcher(
            self.fake, counted_handle, app="linja", fallback_label=SHED_LABEL
        )
        self.dispatcher.fast = BulletinFastPath(
            self.fake,
            source,
            fallbacks,
            self.counter,
            lambda: T0,
            flow=flow,
            admission=lambda: self.router.admission,
            events=lambda: self.router.events,
            shed=lambda f: self.router.shed.update((f,)),
            handed=HandedLog(interval=0.01),
            now=now,
        )
        self.fake.attach(self.dispatcher)


def continue_to_fallback(cid: str, number: str = "100") -> tuple[str, str, dict[str, Any], None]:
    params = {"context": FALLBACK_CONTEXT, "extension": number, "label": FALLBACK_LABEL}
    return ("POST", f"/channels/{cid}/continue", params, None)


async def test_a_current_fallback_file_is_counted_and_continued_with_no_call_or_flow(
    caplog: pytest.LogCaptureFixture,
) -> None:
    a = uuid.uuid4()
    source = Source(prepared("a", a, T0 - timedelta(hours=1)))
    rig = Rig(source, Fallbacks(**{"100": media("a")}))
    release = asyncio.Event()

    async def slow_continue(params: Any, body: Any) -> None:
        await release.wait()

    rig.fake.set_response("POST", "/channels/c1/continue", slow_continue)
    caplog.set_level(logging.INFO, logger="ivr.flows.fastpath")
    rig.fake.start_call("c1", args=["announcement", "demo"], exten="100")
    await rig.fake.wait_until(lambda: rig.fake.requests)
    # in flight: no Call, no flow task, but tracked (the reconciler leaves it alone)
    assert rig.dispatcher.get_call("c1") is None
    assert rig.dispatcher.flow_channels() == frozenset()
    assert rig.dispatcher.tracks("c1")
    assert rig.dispatcher.active_calls == 1
    assert decide(rig.fake.channels.values(), rig.dispatcher, "linja") == []
    release.set()
    await rig.fake.wait_calls_done()

    assert rig.fake.requests == [continue_to_fallback("c1")]
    assert rig.counter.counted == [(NUMBER_ID, [a])]
    assert rig.flows_run == 0
    assert rig.events.started == rig.events.ended == ["announcement"]
    assert rig.dispatcher.calls_started == 1
    assert not rig.dispatcher.tracks("c1") and rig.dispatcher.ended_recently("c1")
    await asyncio.sleep(0.05)  # the batched log line
    lines = [r.getMessage() for r in caplog.records if "from its fallback file" in r.getMessage()]
    assert lines == [f"[c1] playing 1 item(s) on 100 (bulletins {a}) from its fallback file"]


async def test_calls_of_one_second_share_one_log_line_that_names_each_channel(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig(Source(), Fallbacks(**{"100": media("nodis")}))
    caplog.set_level(logging.INFO, logger="ivr.flows.fastpath")
    for cid in ("c1", "c2", "c3"):
        rig.fake.start_call(cid, args=["announcement", "demo"], exten="100")
    await rig.fake.wait_calls_done()
    await asyncio.sleep(0.05)
    lines = [r.getMessage() for r in caplog.records if "from its fallback file" in r.getMessage()]
    assert lines == ["[c1,c2,c3] playing 1 item(s) on 100 (bulletins none) from its fallback file"]
    assert rig.counter.counted == [(NUMBER_ID, [None])] * 3


async def test_a_failed_continue_goes_to_the_shed_label_then_to_the_reconciler() -> None:
    rig = Rig(Source(), Fallbacks(**{"100": media("nodis")}))
    down = AriUnavailable("ARI POST /channels/c1/continue: ServerDisconnectedError")
    rig.fake.set_response("POST", "/channels/c1/continue", down)  # both tries fail
    rig.fake.start_call("c1", args=["announcement", "demo"], exten="100")
    await rig.fake.wait_calls_done()

    assert [p for _, _, p, _ in rig.fake.requests] == [
        continue_to_fallback("c1")[2],
        {"label": SHED_LABEL},
    ]
    assert rig.counter.counted == [(NUMBER_ID, [None])]  # counted before it went on
    assert rig.events.started == rig.events.ended == ["announcement"]
    # Still in the application: the reconciler sees it and continues it at the shed label.
    assert not rig.dispatcher.tracks("c1")
    decisions = decide(rig.fake.channels.values(), rig.dispatcher, "linja")
    assert [(d.channel_id, d.action) for d in decisions] == [("c1", "continue")]


async def test_a_stale_fallback_file_takes_the_full_path() -> None:
    a = uuid.uuid4()  # just started: the file still holds "no disruptions"
    source = Source(prepared("a", a, T0 - timedelta(seconds=1)))
    rig = Rig(source, Fallbacks(**{"100": media("nodis")}))
    rig.fake.start_call("c1", args=["announcement", "demo"], exten="100")
    await rig.fake.wait_calls_done()
    assert rig.flows_run == 1
    assert rig.fake.requests_to("POST", "/channels/c1/continue") == []
    assert rig.fake.media_played("c1") == media("a")
    assert rig.counter.counted == [(NUMBER_ID, [a])]
    assert rig.events.started == rig.events.ended == ["announcement"]


async def test_other_flows_and_numbers_without_the_service_take_the_full_path() -> None:
    rig = Rig(Source(), Fallbacks(**{"100": media("nodis")}))
    rig.fake.start_call("c1", args=["announcement", "demo"], exten="555")
    rig.fake.start_call("c2", args=["menu", "demo"], exten="100")
    await rig.fake.wait_calls_done()
    assert rig.flows_run == 2
    assert rig.counter.counted == []


async def test_a_refusing_gate_sheds_the_call_uncounted() -> None:
    rig = Rig(Source(), Fallbacks(**{"100": media("nodis")}), refuse="lag")
    rig.fake.start_call("c1", args=["announcement", "demo"], exten="100")
    await rig.fake.wait_calls_done()
    assert rig.fake.requests == [("POST", "/channels/c1/continue", {"label": SHED_LABEL}, None)]
    assert rig.counter.counted == []
    assert rig.events.shed == [("announcement", "lag")] and rig.events.started == []
    assert rig.router.shed == {"announcement": 1}
    assert rig.flows_run == 0


async def test_a_dialplan_without_the_label_plays_through_ari_counted_once() -> None:
    rig = Rig(Source(), Fallbacks(**{"100": media("nodis")}))
    gone = ChannelGone(404, "POST", "/channels/c1/continue")
    rig.fake.set_response("POST", "/channels/c1/continue", gone)
    rig.fake.start_call("c1", args=["announcement", "demo"], exten="100")
    await rig.fake.wait_calls_done()
    paths = [(m, p) for m, p, _, _ in rig.fake.requests]
    assert paths[:2] == [("POST", "/channels/c1/continue"), ("POST", "/channels/c1/answer")]
    assert rig.fake.media_played("c1") == media("nodis")
    assert rig.counter.counted == [(NUMBER_ID, [None])]
    assert rig.events.started == rig.events.ended == ["announcement"]
    # that number now takes the full path (whose own lean try meets the same 404)
    rig.fake.set_response("POST", "/channels/c2/continue", gone)
    rig.fake.start_call("c2", args=["announcement", "demo"], exten="100")
    await rig.fake.wait_calls_done()
    assert rig.flows_run == 1
    assert rig.fake.media_played("c2") == media("nodis")


async def test_a_continue_written_at_once_is_settled_by_its_answer_with_no_task(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = Now()
    rig = Rig(Source(), Fallbacks(**{"100": media("nodis")}), now=now)
    caplog.set_level(logging.INFO, logger="ivr.flows.fastpath")
    tasks = len(asyncio.all_tasks())
    rig.fake.start_call("c1", args=["announcement", "demo"], exten="100")
    await rig.fake.wait_until(lambda: now.sent)
    assert len(asyncio.all_tasks()) == tasks  # written from the event, no task for the call
    [(method, path, params, answered)] = now.sent
    assert (method, path, params, None) == continue_to_fallback("c1")
    # unanswered: tracked, so the reconciler leaves it alone, and the dispatcher is busy
    assert rig.dispatcher.tracks("c1") and rig.dispatcher.active_calls == 1
    assert rig.dispatcher.fast_in_flight == 1
    assert decide(rig.fake.channels.values(), rig.dispatcher, "linja") == []
    assert not await rig.dispatcher.wait_idle(0.05)
    answered(204, None)
    assert await rig.dispatcher.wait_idle(0.5)
    assert not rig.dispatcher.tracks("c1") and rig.dispatcher.ended_recently("c1")
    assert rig.fake.requests == []  # nothing went the other way
    assert rig.counter.counted == [(NUMBER_ID, [None])]
    assert rig.events.started == rig.events.ended == ["announcement"]
    assert rig.flows_run == 0
    await asyncio.sleep(0.05)
    lines = [r.getMessage() for r in caplog.records if "from its fallback file" in r.getMessage()]
    assert lines == ["[c1] playing 1 item(s) on 100 (bulletins none) from its fallback file"]


async def test_a_failed_continue_written_at_once_is_sent_again_with_retries() -> None:
    now = Now()
    rig = Rig(Source(), Fallbacks(**{"100": media("nodis")}), now=now)
    rig.fake.start_call("c1", args=["announcement", "demo"], exten="100")
    await rig.fake.wait_until(lambda: now.sent)
    now.sent[0][3](0, AriUnavailable("ARI POST /channels/c1/continue: websocket closed"))
    await rig.fake.wait_calls_done()
    assert rig.fake.requests == [continue_to_fallback("c1")]  # again, over the other way
    assert rig.events.started == rig.events.ended == ["announcement"]  # still one call
    assert rig.counter.counted == [(NUMBER_ID, [None])]
    assert rig.dispatcher.ended_recently("c1") and rig.flows_run == 0


async def test_a_dialplan_refusing_a_continue_written_at_once_plays_through_ari() -> None:
    now = Now()
    rig = Rig(Source(), Fallbacks(**{"100": media("nodis")}), now=now)
    rig.fake.set_response(
        "POST", "/channels/c1/continue", ChannelGone(404, "POST", "/channels/c1/continue")
    )
    rig.fake.start_call("c1", args=["announcement", "demo"], exten="100")
    await rig.fake.wait_until(lambda: now.sent)
    now.sent[0][3](404, ChannelGone(404, "POST", "/channels/c1/continue"))
    await rig.fake.wait_until(lambda: rig.fake.requests_to("POST", "/channels/c1/answer"))
    assert rig.events.started == ["announcement"]
    assert rig.counter.counted == [(NUMBER_ID, [None])]  # counted once


async def test_while_requests_go_over_http_the_fast_path_keeps_its_task() -> None:
    now = Now(ready=False)
    rig = Rig(Source(), Fallbacks(**{"100": media("nodis")}), now=now)
    rig.fake.start_call("c1", args=["announcement", "demo"], exten="100")
    await rig.fake.wait_calls_done()
    assert now.sent == [] and rig.fake.requests == [continue_to_fallback("c1")]
    assert rig.events.ended == ["announcement"]


async def test_shutdown_lets_go_of_unanswered_continues() -> None:
    now = Now()
    rig = Rig(Source(), Fallbacks(**{"100": media("nodis")}), now=now)
    rig.fake.start_call("c1", args=["announcement", "demo"], exten="100")
    await rig.fake.wait_until(lambda: now.sent)
    await rig.dispatcher.shutdown(timeout=0.05)
    assert rig.dispatcher.fast_in_flight == 0 and not rig.dispatcher.tracks("c1")
    now.sent[0][3](0, AriUnavailable("late"))  # a late answer settles nothing
    await asyncio.sleep(0.01)
    assert rig.fake.requests == []
