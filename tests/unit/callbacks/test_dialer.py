"""The callback dialer against FakeAri and an in-memory store: it claims a due request, rings
an agent, then the customer, and bridges them; busy, no answer and failed calls are told to
the agent and retried per the queue's policy, then given up; a restricted number is never
dialled; an agent who does not answer passes the request to the next one; a lease is renewed
while the call lasts and a dead controller's attempt is taken over; with the database down
mid-dial the customer is still bridged and the attempt stored later; customers are dialled
within the dialling hours only. Unexpected errors are logged with the request id and the
dialer goes on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ivr.ari.dispatcher import Dispatcher
from ivr.ari.errors import AriUnavailable
from ivr.audio import tts_key
from ivr.callbacks.dialer import CallbackDialer, DialerConfig
from ivr.callbacks.outbox import OutcomeSpool
from ivr.callcenter.coordinator import QueueCoordinator
from ivr.callcenter.engine import QueueEngine
from ivr.flowdefs.model import (
    CallbackConfig,
    CallbackNumbers,
    OpeningHours,
    Queue,
    Target,
    TenantFlows,
)
from ivr.flows.notice import NoticeFlow
from ivr.flows.router import FlowRouter
from ivr.prompts import PromptRenderer
from ivr.telephony.bridging import Bridger
from ivr.texts import Text, text
from storage.errors import StorageUnavailable
from storage.events import CallbackOutcome, CallbackResult
from tests.unit.callbacks.memory_store import MemoryCallbackStore, StoredAttempt
from tests.unit.callbacks.spoken import heard
from tests.unit.callcenter.util import FakeClock
from tests.unit.fake_ari import FakeAri
from tests.unit.flows.support_recording import fake_speak

HELSINKI = ZoneInfo("Europe/Helsinki")
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday, 12:00 in Helsinki
PLACE = T0 - timedelta(minutes=5)
NUMBER = "+358401234567"
CALLING = "Takaisinsoitto. Soitetaan numeroon"  # then the number, digit by digit
TRUNK = "127.0.0.1:5070"
CUSTOMER = "PJSIP/customers/"
RETRY = 60.0
POLICY = CallbackConfig(max_attempts=3, retry_delay=RETRY, ring_timeout=0.3)
QUEUE = Queue("support", ("agent1", "agent2"), ring_timeout=0.3, wrap_up=0.0, callback=POLICY)
FLOWS = TenantFlows("demo", "fi", "main", {}, {}, {"support": QUEUE}, None, "/x/demo.toml")
AGENT_IDS = {"agent1": uuid.UUID(int=11), "agent2": uuid.UUID(int=12)}


class Definitions:
    def __init__(self, flows: TenantFlows) -> None:
        self.flows = flows

    def get(self, tenant: str) -> TenantFlows | None:
        return self.flows if tenant == self.flows.tenant else None


class Agents:
    async def user_id(self, login: str) -> uuid.UUID | None:
        return AGENT_IDS.get(login)


class Restrictions:
    """Restricted numbers (E.164); ``down`` makes the check fail as with Postgres gone."""

    def __init__(self, *numbers: str) -> None:
        self.numbers = set(numbers)
        self.down = False
        self.asked: list[str | None] = []

    async def is_restricted(
        self, tenant_id: uuid.UUID, *, number: str | None = None, email: str | None = None
    ) -> bool:
        self.asked.append(number)
        if self.down:
            raise StorageUnavailable("database unavailable: connection refused (test)")
        return number in self.numbers


@dataclass
class Controller:
    name: str
    coord: QueueCoordinator
    dialer: CallbackDialer


class World:
    """One Asterisk (FakeAri + dispatcher), one database (the store), one clock; any number
    of controllers, each with its own queue engine and dialer."""

    def __init__(
        self,
        tmp_path: Path,
        flows: TenantFlows = FLOWS,
        *,
        start: datetime = T0,
        restrictions: Restrictions | None = None,
    ) -> None:
        self.flows = flows
        self.definitions = Definitions(flows)  # what the controllers read, live
        self.tmp_path = tmp_path
        self.fake = FakeAri(default_duration=0.001)
        self.dispatcher = Dispatcher(self.fake, FlowRouter({}).handle, app="linja")
        self.fake.attach(self.dispatcher)
        self.store = MemoryCallbackStore(mark=lambda: len(self.fake.requests))
        self.clock = FakeClock(start)
        self.prompts = PromptRenderer(tmp_path / "sounds", "/sounds", speak=fake_speak)
        self.restrictions = restrictions if restrictions is not None else Restrictions()

    def controller(
        self,
        name: str = "ctl-a",
        *,
        lease: float = 60.0,
        db_retries: int = 12,
        spool: Path | None = None,
        takeover_grace: float = 0.0,
    ) -> Controller:
        queues = {f"{self.flows.tenant}/{n}": q for n, q in self.flows.queues.items()}
        coord = QueueCoordinator(QueueEngine(queues), self.clock, tick_interval=0.01)
        dialer = CallbackDialer(
            self.store,
            coord,
            self.definitions,
            self.fake,
            self.dispatcher.adopt,
            self.dispatcher.release,
            self.prompts,
            Agents(),
            Bridger(),
            self.clock,
            DialerConfig(
                controller_id=name,
                app="linja",
                trunk=TRUNK,
                poll_interval=0.02,
                lease=lease,
                db_retries=db_retries,
                db_backoff=0.01,
                takeover_grace=takeover_grace,
            ),
            restrictions=self.restrictions,
            notice=NoticeFlow(self.prompts, self.clock),
            outcomes=OutcomeSpool(spool or self.tmp_path / "spool" / name),
        )
        return Controller(name, coord, dialer)

    @contextlib.asynccontextmanager
    async def running(self, *controllers: Controller) -> AsyncIterator[list[asyncio.Task[None]]]:
        tasks = [
            asyncio.create_task(run()) for c in controllers for run in (c.coord.run, c.dialer.run)
        ]
        try:
            yield tasks[1::2]
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # -- what Asterisk was asked ----------------------------------------------------------------

    def originated(self, prefix: str) -> list[dict[str, Any]]:
        """Parameters of every channel originated to an endpoint starting with ``prefix``."""
        return [
            dict(p)
            for method, path, p, _ in self.fake.requests
            if method == "POST" and path == "/channels" and p is not None
            if str(p["endpoint"]).startswith(prefix)
        ]

    def legs(self, prefix: str) -> list[str]:
        return [str(p["channelId"]) for p in self.originated(prefix)]

    async def rung(self, prefix: str, n: int = 1) -> str:
        """The n-th leg dialled to ``prefix`` (waits for it)."""
        await self.until(lambda: len(self.legs(prefix)) >= n)
        return self.legs(prefix)[n - 1]

    async def answer_agent(self, agent: str, n: int = 1) -> str:
        leg = await self.rung(f"PJSIP/{agent}", n)
        self.fake.start_call(leg, args=["callback-agent", "demo"])
        return leg

    def index_of(self, leg: str) -> int:
        """Where the origination of ``leg`` is among the ARI requests."""
        return next(
            i
            for i, (method, path, p, _) in enumerate(self.fake.requests)
            if method == "POST" and path == "/channels" and p and p["channelId"] == leg
        )

    def bridged(self, first: str, second: str) -> bool:
        return any(b["channels"] == [first, second] for b in self.fake.bridges.values())

    def hung_up(self, leg: str) -> bool:
        return bool(self.fake.requests_to("DELETE", f"/channels/{leg}"))

    def heard(self, leg: str) -> list[str]:
        return self.fake.media_played(leg)

    @staticmethod
    def said(key: Text, **values: str) -> str:
        return f"sound:/sounds/{tts_key(text(key, 'fi', **values), 'fi')}"

    async def until(self, predicate: Callable[[], object], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        await self.fake.wait_until(predicate, timeout)


def results(attempts: list[StoredAttempt]) -> list[CallbackResult | None]:
    return [a.result for a in attempts]


async def test_claims_rings_the_agent_then_the_customer_and_bridges_them(tmp_path: Path) -> None:
    w = World(tmp_path)
    a = w.controller()
    r = w.store.add(NUMBER, PLACE)
    a.coord.login("agent1")
    async with w.running(a):
        agent = await w.rung("PJSIP/agent1")
        assert r.dialing_by == "ctl-a" and w.store.mark_of("claim") <= w.index_of(agent)
        await asyncio.sleep(0.05)
        assert w.legs(CUSTOMER) == []  # no customer is called before an agent answers
        w.fake.start_call(agent, args=["callback-agent", "demo"])
        customer = await w.rung(CUSTOMER)
        assert heard(w.heard(agent), texts=(CALLING,)) == [
            *[CALLING, *"040", ",", *"123", ",", *"4567"]
        ]
        w.fake.start_call(customer, args=["callback-customer", "demo"])
        await w.until(lambda: w.bridged(agent, customer))
        await w.until(lambda: w.store.attempts(r.id)[0].answered_at is not None)
        assert r.status == "open" and r.dialing_by == "ctl-a"  # the lease holds the call
        w.fake.hangup(customer)
        await w.until(lambda: r.status == "done")

    (ring,) = w.originated("PJSIP/agent1")
    assert ring | {"channelId": None} == {
        "endpoint": "PJSIP/agent1",
        "app": "linja",
        "appArgs": "callback-agent,demo",
        "channelId": None,
        "timeout": 0,
        "callerId": f"Callback <{NUMBER}>",
    }
    (dial,) = w.originated(CUSTOMER)
    assert dial["endpoint"] == f"PJSIP/customers/sip:{NUMBER}@{TRUNK}"
    assert dial["appArgs"] == "callback-customer,demo"
    assert w.index_of(agent) < w.index_of(customer)
    assert w.fake.requests_to("POST", f"/bridges/b-{agent}/addChannel")[0][2] == {
        "channel": f"{agent},{customer}"
    }
    assert w.hung_up(agent) and w.fake.bridges == {}
    assert (r.outcome, r.attempts, r.dialing_by) == (CallbackOutcome.ANSWERED, 1, None)
    assert r.served == (T0, T0) and r.last_agent_id == AGENT_IDS["agent1"]
    (attempt,) = w.store.attempts(r.id)
    assert (attempt.result, attempt.agent_login, attempt.agent_id, attempt.controller) == (
        CallbackResult.ANSWERED,
        "agent1",
        AGENT_IDS["agent1"],
        "ctl-a",
    )
    assert w.restrictions.asked == [NUMBER]  # checked once, before anyone was rung
    assert w.store.calls("claim", "start_attempt", "attempt_answered", "end_attempt", "finish") == [
        "claim",
        "start_attempt",
        "attempt_answered",
        "end_attempt",
        "finish",
    ]


async def test_busy_no_answer_and_failed_are_told_the_agent_retried_then_given_up(
    tmp_path: Path,
) -> None:
    w = World(tmp_path)
    a = w.controller()
    r = w.store.add(NUMBER, PLACE)
    a.coord.login("agent1")
    async with w.running(a):
        agent = await w.answer_agent("agent1")
        w.fake.hangup(await w.rung(CUSTOMER), cause=17)  # USER_BUSY
        await w.until(lambda: r.attempts == 1)
        assert (r.status, r.dialing_by, r.next_attempt_at) == (
            "open",
            None,
            T0 + timedelta(seconds=RETRY),
        )
        await w.until(lambda: w.hung_up(agent))
        assert w.heard(agent)[-1] == w.said(Text.DIALER_BUSY)
        await asyncio.sleep(0.1)
        assert len(w.legs("PJSIP/agent1")) == 1  # not due again before the retry delay

        w.clock.advance(RETRY + 1)
        a.dialer.notify()
        agent = await w.answer_agent("agent1", 2)
        customer = await w.rung(CUSTOMER, 2)  # rings out: the policy's 0.3 s
        await w.until(lambda: r.attempts == 2)
        assert r.next_attempt_at == T0 + timedelta(seconds=2 * RETRY + 1)
        await w.until(lambda: w.hung_up(agent))
        assert w.hung_up(customer) and w.heard(agent)[-1] == w.said(Text.DIALER_NO_ANSWER)

        w.clock.advance(RETRY + 1)
        a.dialer.notify()
        agent = await w.answer_agent("agent1", 3)
        w.fake.hangup(await w.rung(CUSTOMER, 3), cause=38)  # network out of order
        await w.until(lambda: r.status == "done")
        await w.until(lambda: w.hung_up(agent))

    assert (r.outcome, r.attempts) == (CallbackOutcome.GAVE_UP, 3)
    assert w.heard(agent)[-1] == w.said(Text.DIALER_FAILED)
    assert results(w.store.attempts(r.id)) == [
        CallbackResult.BUSY,
        CallbackResult.NO_ANSWER,
        CallbackResult.FAILED,
    ]
    assert len(w.legs(CUSTOMER)) == 3


async def test_a_customer_that_cannot_be_dialled_is_a_failed_attempt(tmp_path: Path) -> None:
    w = World(tmp_path)
    a = w.controller()
    r = w.store.add(NUMBER, PLACE)
    a.coord.login("agent1")

    def originate(params: dict[str, Any], _json: Any) -> dict[str, Any]:
        if str(params["endpoint"]).startswith(CUSTOMER):
            raise AriUnavailable("POST /channels: connection reset")
        return {"id": params["channelId"]}

    w.fake.set_response("POST", "/channels", originate)
    async with w.running(a):
        agent = await w.rung("PJSIP/agent1")
        w.fake.channels[agent] = {"id": agent}
        w.fake.start_call(agent, args=["callback-agent", "demo"])
        await w.until(lambda: r.attempts == 1)
        await w.until(lambda: w.hung_up(agent))
    assert w.heard(agent)[-1] == w.said(Text.DIALER_FAILED)
    assert results(w.store.attempts(r.id)) == [CallbackResult.FAILED]
    assert r.next_attempt_at == T0 + timedelta(seconds=RETRY)


async def test_a_restricted_number_is_never_dialled(tmp_path: Path) -> None:
    w = World(tmp_path, restrictions=Restrictions(NUMBER))
    a = w.controller()
    r = w.store.add(NUMBER, PLACE)
    a.coord.login("agent1")
    async with w.running(a):
        await w.until(lambda: r.status != "open")
        await asyncio.sleep(0.1)
    assert (r.status, r.outcome, r.attempts) == ("cancelled", CallbackOutcome.RESTRICTED, 0)
    assert w.legs("PJSIP/") == [] and w.store.attempts(r.id) == []
    assert w.restrictions.asked == [NUMBER]


async def test_a_restriction_that_cannot_be_checked_releases_the_request_until_it_can(
    tmp_path: Path,
) -> None:
    w = World(tmp_path)
    w.restrictions.down = True
    a = w.controller()
    r = w.store.add(NUMBER, PLACE)
    a.coord.login("agent1")
    async with w.running(a):
        await w.until(lambda: len(w.store.calls("release")) >= 2)  # tried again, released again
        assert w.legs("PJSIP/") == [] and (r.status, r.dialing_by) == ("open", None)
        w.restrictions.down = False  # back: not restricted, so it is dialled
        await w.rung("PJSIP/agent1")
        assert r.dialing_by == "ctl-a"
    assert w.store.attempts(r.id) == [] and r.attempts == 0
    assert len(w.restrictions.asked) >= 3 and set(w.restrictions.asked) == {NUMBER}


async def test_an_agent_who_does_not_answer_passes_it_to_the_next(tmp_path: Path) -> None:
    w = World(tmp_path)
    a = w.controller()
    r = w.store.add(NUMBER, PLACE)
    a.coord.login("agent1")
    a.coord.login("agent2")
    async with w.running(a):
        first_leg = await w.rung("PJSIP/agent")
        (first,) = [p["endpoint"] for p in w.originated("PJSIP/agent")]
        second = "agent2" if first == "PJSIP/agent1" else "agent1"
        w.fake.hangup(first_leg, cause=19)  # the phone rang out
        leg = await w.answer_agent(second)
        w.fake.start_call(await w.rung(CUSTOMER), args=["callback-customer", "demo"])
        await w.until(lambda: bool(w.fake.bridges))
        w.fake.hangup(leg)
        await w.until(lambda: r.status == "done")
    missed, served = w.store.attempts(r.id)
    assert (missed.result, missed.agent_login) == (CallbackResult.AGENT_NO_ANSWER, first[6:])
    assert missed.agent_id == AGENT_IDS[first[6:]]
    assert (served.result, served.agent_login) == (CallbackResult.ANSWERED, second)
    assert len(w.legs("PJSIP/agent")) == 2 and len(w.legs(CUSTOMER)) == 1
    assert (r.outcome, r.attempts) == (CallbackOutcome.ANSWERED, 1)  # the missed ring is free
    assert w.store.calls("release") == ["release"]  # the lease went back between the two


async def test_the_lease_is_renewed_while_the_call_lasts(tmp_path: Path) -> None:
    w = World(tmp_path)
    a = w.controller(lease=0.3)
    r = w.store.add(NUMBER, PLACE)
    a.coord.login("agent1")
    async with w.running(a):
        agent = await w.answer_agent("agent1")
        customer = await w.rung(CUSTOMER)
        w.fake.start_call(customer, args=["callback-customer", "demo"])
        await w.until(lambda: w.bridged(agent, customer))
        before = len(w.store.calls("renew"))
        await asyncio.sleep(0.6)  # two leases long: renewed every lease / 3
        assert len(w.store.calls("renew")) - before >= 2
        for _ in range(2):
            w.clock.advance(30)
            await w.until(lambda: r.dialing_since == w.clock())
            assert r.dialing_by == "ctl-a"
            assert await w.store.due(w.clock(), lease=0.3) == []  # nobody else may take it
        w.fake.hangup(agent)
        await w.until(lambda: r.status == "done")
    assert r.outcome == CallbackOutcome.ANSWERED and r.dialing_by is None


async def test_a_dead_controllers_attempt_is_taken_over_once_its_lease_ran_out(
    tmp_path: Path,
) -> None:
    w = World(tmp_path)
    a = w.controller()
    r = w.store.add(NUMBER, PLACE, dialing_by="ctl-dead", dialing_since=T0 - timedelta(seconds=120))
    w.store.attempt_rows.append(
        StoredAttempt(r.id, 1, "ctl-dead", T0 - timedelta(seconds=125), "agent2", None)
    )
    live = w.store.add("+358501234567", PLACE, dialing_by="ctl-b", dialing_since=T0)
    a.coord.login("agent1")
    async with w.running(a):
        agent = await w.answer_agent("agent1")
        customer = await w.rung(CUSTOMER)
        w.fake.start_call(customer, args=["callback-customer", "demo"])
        await w.until(lambda: w.bridged(agent, customer))
        w.fake.hangup(customer)
        await w.until(lambda: r.status == "done")
        await asyncio.sleep(0.1)
    dead, mine = w.store.attempts(r.id)
    assert (dead.controller, dead.result, dead.ended_at) == (
        "ctl-dead",
        CallbackResult.INTERRUPTED,
        T0,
    )
    assert (mine.attempt_no, mine.controller, mine.result) == (2, "ctl-a", CallbackResult.ANSWERED)
    assert (r.outcome, r.attempts) == (CallbackOutcome.ANSWERED, 1)
    assert [p["callerId"] for p in w.originated("PJSIP/agent")] == [f"Callback <{NUMBER}>"]
    assert (live.status, live.dialing_by) == ("open", "ctl-b")  # a live lease is left alone


async def test_i17_5_an_expired_lease_is_taken_over_only_after_postgres_answered_for_a_while(
    tmp_path: Path,
) -> None:
    """After an outage the lease holder first writes the outcomes it spooled (within a
    poll): another controller that would take its expired lease over at once could call a
    customer who was already served. Takeovers wait until Postgres has answered for
    ``takeover_grace`` seconds, and that wait starts again after every failure."""
    w = World(tmp_path)
    a = w.controller(takeover_grace=0.6)
    r = w.store.add(NUMBER, PLACE, dialing_by="ctl-b", dialing_since=T0 - timedelta(seconds=120))
    fresh = w.store.add("+358501234567", PLACE + timedelta(seconds=1))
    a.coord.login("agent1")
    a.coord.login("agent2")
    loop = asyncio.get_running_loop()
    async with w.running(a):
        await w.rung("PJSIP/agent")  # a request nobody held is served at once
        assert fresh.dialing_by == "ctl-a" and r.dialing_by == "ctl-b"
        w.store.down = True  # an outage: the grace starts again once it is over
        await asyncio.sleep(0.1)
        w.store.down = False
        back = loop.time()
        await w.until(lambda: r.dialing_by == "ctl-a", timeout=5)
        assert loop.time() - back >= 0.5  # not before Postgres answered for the grace


async def test_two_controllers_never_dial_the_same_request(tmp_path: Path) -> None:
    w = World(tmp_path)
    a, b = w.controller("ctl-a"), w.controller("ctl-b")
    r = w.store.add(NUMBER, PLACE)
    a.coord.login("agent1")
    b.coord.login("agent1")
    async with w.running(a, b):
        await w.rung("PJSIP/agent1")
        await w.until(lambda: len(w.store.calls("claim")) >= 2)  # the loser tried too
        winner = r.dialing_by
        agent = await w.answer_agent("agent1")
        w.fake.start_call(await w.rung(CUSTOMER), args=["callback-customer", "demo"])
        await w.until(lambda: bool(w.fake.bridges))
        w.fake.hangup(agent)
        await w.until(lambda: r.status == "done")
        await asyncio.sleep(0.1)
    assert len(w.legs("PJSIP/agent1")) == 1 and len(w.legs(CUSTOMER)) == 1
    (attempt,) = w.store.attempts(r.id)
    assert attempt.controller == winner and winner in ("ctl-a", "ctl-b")


async def test_with_the_database_down_mid_dial_the_customer_is_bridged_and_stored_later(
    tmp_path: Path,
) -> None:
    w = World(tmp_path)
    a = w.controller()
    r = w.store.add(NUMBER, PLACE)
    a.coord.login("agent1")
    async with w.running(a):
        agent = await w.answer_agent("agent1")
        customer = await w.rung(CUSTOMER)
        w.store.down = True  # Postgres goes away while the customer's phone rings
        w.clock.advance(5)
        w.fake.start_call(customer, args=["callback-customer", "demo"])
        await w.until(lambda: w.bridged(agent, customer))  # at once, nothing stored
        await w.until(lambda: len(w.store.calls("attempt_answered")) >= 3)
        (attempt,) = w.store.attempts(r.id)
        assert attempt.answered_at is None and attempt.result is None
        w.store.down = False
        await w.until(lambda: attempt.answered_at is not None)
        w.clock.advance(60)
        w.fake.hangup(customer)
        await w.until(lambda: r.status == "done")
    answered, ended = T0 + timedelta(seconds=5), T0 + timedelta(seconds=65)
    assert (attempt.answered_at, attempt.ended_at) == (answered, ended)
    assert attempt.result == CallbackResult.ANSWERED
    assert (r.outcome, r.served) == (CallbackOutcome.ANSWERED, (answered, ended))


def _local(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=HELSINKI).astimezone(UTC)


HOURS = OpeningHours(
    "Europe/Helsinki", {d: ((time(8), time(20)),) for d in range(7)}, Target("hangup", "closed")
)


async def test_customers_are_dialled_within_the_dialling_hours_only(tmp_path: Path) -> None:
    w = World(tmp_path, replace(FLOWS, hours=HOURS), start=_local(23, 21))
    a = w.controller()
    r = w.store.add(NUMBER, PLACE)
    a.coord.login("agent1")
    async with w.running(a):
        await w.until(lambda: len(w.store.calls("due")) >= 5)
        assert w.legs("PJSIP/") == [] and a.coord.stats("demo/support").callbacks == 0
        w.clock.now = _local(24, 8)  # the next morning
        a.dialer.notify()
        await w.answer_agent("agent1")
        customer = await w.rung(CUSTOMER)
        w.clock.now = _local(24, 19, 59, 30)  # busy half a minute before closing
        w.fake.hangup(customer, cause=17)
        await w.until(lambda: r.attempts == 1)
    assert r.next_attempt_at == _local(25, 8)  # the retry waits for the next opening


async def test_an_unexpected_error_in_a_poll_is_logged_and_polling_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w = World(tmp_path)
    a = w.controller()
    w.store.add(NUMBER, PLACE)
    w.store.broken["due"] = RuntimeError("a bug in due()")
    a.coord.login("agent1")
    async with w.running(a) as dialers:
        await w.rung("PJSIP/agent1")
        assert not any(t.done() for t in dialers)
    (record,) = [rec for rec in caplog.records if "poll failed unexpectedly" in rec.getMessage()]
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert str(record.exc_info[1]) == "a bug in due()"


async def test_an_unexpected_error_with_a_request_is_logged_with_its_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w = World(tmp_path)
    a = w.controller()
    r = w.store.add(NUMBER, PLACE)
    w.store.broken["claim"] = RuntimeError("a bug in claim()")
    a.coord.login("agent1")
    async with w.running(a) as dialers:
        await w.rung("PJSIP/agent1")  # the next offer is claimed and dialled
        assert not any(t.done() for t in dialers)
    (record,) = [rec for rec in caplog.records if rec.exc_info and rec.levelno == logging.ERROR]
    assert str(r.id) in record.getMessage() and "unexpectedly" in record.getMessage()
    assert str(record.exc_info[1]) == "a bug in claim()"


async def test_ari_failing_mid_dial_is_logged_without_a_traceback_and_left_to_the_lease(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w = World(tmp_path)
    a = w.controller()
    r = w.store.add(NUMBER, PLACE)
    a.coord.login("agent1")
    async with w.running(a):
        agent = await w.answer_agent("agent1")
        w.fake.set_response(
            "POST", f"/bridges/b-{agent}/addChannel", AriUnavailable("connection reset")
        )
        customer = await w.rung(CUSTOMER)
        w.fake.start_call(customer, args=["callback-customer", "demo"])
        await w.until(lambda: results(w.store.attempts(r.id)) == [CallbackResult.FAILED])
        await w.until(lambda: w.hung_up(agent) and w.hung_up(customer))
        await asyncio.sleep(0.1)
    (record,) = [rec for rec in caplog.records if "broken off" in rec.getMessage()]
    assert str(r.id) in record.getMessage() and "connection reset" in record.getMessage()
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert (r.status, r.attempts, r.dialing_by) == ("open", 0, "ctl-a")  # the lease expires
    assert len(w.legs("PJSIP/agent1")) == 1


@pytest.mark.parametrize("number", ["+979123456789", "+449098790000", "+358201234567"])
async def test_callbacks_to_international_premium_rate_numbers_are_never_dialled(
    tmp_path: Path, number: str
) -> None:
    """Issue 17 item 8: a stored request for a number off the tenant's allow-list (taken
    before the fix, or before the definitions changed) is closed without ringing anyone."""
    w = World(tmp_path)
    a = w.controller()
    r = w.store.add(number, PLACE)
    a.coord.login("agent1")
    async with w.running(a):
        await w.until(lambda: r.status != "open")
        await asyncio.sleep(0.1)
    assert (r.status, r.outcome, r.attempts) == ("cancelled", CallbackOutcome.CANCELLED, 0)
    assert w.legs("PJSIP/") == [] and w.store.attempts(r.id) == []


async def test_the_allow_list_is_checked_again_before_dialling(tmp_path: Path) -> None:
    """The list in force when the request is dialled counts, not the one it was queued under."""
    nordic = replace(FLOWS, callbacks=CallbackNumbers(("FI", "SE"), ("mobile",)))
    w = World(tmp_path, nordic)
    a = w.controller()
    allowed = w.store.add("+46701234567", PLACE)
    async with w.running(a):
        await asyncio.sleep(0.2)  # polled and queued under nordic; no agent yet
        w.definitions.flows = FLOWS  # the tenant's definitions were reloaded without SE
        a.coord.login("agent1")
        await w.until(lambda: allowed.status != "open")
    assert (allowed.outcome, allowed.attempts) == (CallbackOutcome.CANCELLED, 0)
    assert w.legs("PJSIP/") == []


async def test_a_number_the_tenant_allows_is_dialled(tmp_path: Path) -> None:
    nordic = replace(FLOWS, callbacks=CallbackNumbers(("FI", "SE"), ("mobile",)))
    w = World(tmp_path, nordic)
    a = w.controller()
    swedish = w.store.add("+46701234567", PLACE)
    a.coord.login("agent1")
    async with w.running(a):
        await w.rung("PJSIP/agent1")
        assert swedish.dialing_by == "ctl-a"
