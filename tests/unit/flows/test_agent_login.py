"""Agent login by phone against FakeAri: the agent hears their tenant's language (Finnish when
the tenant has no definitions), logs in, then pauses; a wrong PIN three times ends the call;
the login must be a user of the dialled tenant; failures count across calls and lock the
login (the fake keeps the count as the Postgres repository does, with the same policy)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ivr.ari.dispatcher import Dispatcher
from ivr.audio import tts_key
from ivr.callcenter.agents import AgentState
from ivr.callcenter.coordinator import QueueCoordinator
from ivr.callcenter.engine import QueueEngine
from ivr.flowdefs.model import Queue, TenantFlows
from ivr.flows.agent_login import AgentLoginFlow
from ivr.flows.router import FlowRouter
from ivr.prompts import PromptRenderer
from ivr.texts import Text, text
from storage.domain import Role, UserInfo
from storage.phone_lock import THRESHOLD, PhoneLoginResult, lock_for
from tests.unit.fake_ari import FakeAri
from tests.unit.flows.support_recording import Clock, fake_speak

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
FLOWS = TenantFlows(
    "acme", "sv", "main", {}, {}, {"support": Queue("support", ("agent1",))}, None, "/x.toml"
)
ACME, OTHER = uuid.UUID(int=100), uuid.UUID(int=200)
AGENT = UserInfo(
    uuid.UUID(int=5), ACME, "Agent One", "agent1", None, Role.TEAM, None, "501", True, T0, None
)
OUTSIDER = UserInfo(
    uuid.UUID(int=6), OTHER, "Other One", "agent1x", None, Role.TEAM, None, "601", True, T0, None
)


class Definitions:
    def __init__(self, flows: TenantFlows) -> None:
        self.flows = flows

    def get(self, tenant: str) -> TenantFlows | None:
        return self.flows if tenant == self.flows.tenant else None

    def agents(self) -> set[str]:
        return {a for q in self.flows.queues.values() for a in q.agents}


class PhoneAuth:
    """Users by (tenant, phone login) with PIN 1234; failures per user as in Postgres."""

    def __init__(self) -> None:
        self.users = {(ACME, "501"): AGENT, (OTHER, "601"): OUTSIDER}
        self.failures: dict[uuid.UUID, int] = {}
        self.locked: dict[uuid.UUID, datetime] = {}
        self.attempts: list[tuple[uuid.UUID, str]] = []

    async def attempt(
        self, tenant_id: uuid.UUID, phone_login: str, pin: str, now: datetime
    ) -> PhoneLoginResult:
        self.attempts.append((tenant_id, phone_login))
        user = self.users.get((tenant_id, phone_login))
        if user is None:
            return PhoneLoginResult(None)
        until = self.locked.get(user.id)
        if until is not None and until > now:
            return PhoneLoginResult(None, until, self.failures[user.id])
        if pin == "1234":
            self.failures.pop(user.id, None)
            return PhoneLoginResult(user)
        n = self.failures[user.id] = self.failures.get(user.id, 0) + 1
        lock = lock_for(n)
        if lock is not None:
            self.locked[user.id] = now + lock
        return PhoneLoginResult(None, self.locked.get(user.id) if lock else None, n)


class Tenants:
    async def tenant_id(self, slug: str) -> uuid.UUID | None:
        return {"acme": ACME, "other": OTHER}.get(slug)


class Harness:
    def __init__(self, tmp_path: Path, flows: TenantFlows = FLOWS) -> None:
        self.spoken: list[tuple[str, str]] = []

        async def speak(said: str, lang: str) -> bytes:
            self.spoken.append((said, lang))
            return await fake_speak(said, lang)

        self.coord = QueueCoordinator(
            QueueEngine({"acme/support": FLOWS.queues["support"]}), Clock()
        )
        prompts = PromptRenderer(tmp_path, "/sounds", speak=speak)
        self.auth = PhoneAuth()
        self.now = T0
        flow = AgentLoginFlow(
            self.coord, self.auth, prompts, Definitions(flows), Tenants(), lambda: self.now
        )
        self.fake = FakeAri(default_duration=0.001)
        self.fake.attach(Dispatcher(self.fake, FlowRouter({flow.name: flow}).handle, app="linja"))

    async def heard(self, key: Text, lang: str, times: int = 1) -> None:
        """Waits until the text ``key`` in ``lang`` was played ``times`` times in all."""
        media = self.media(key, lang)
        await self.fake.wait_until(lambda: self.fake.media_played().count(media) >= times)

    def last_heard(self) -> str:
        return self.fake.media_played()[-1]

    @staticmethod
    def media(key: Text, lang: str) -> str:
        return f"sound:/sounds/{tts_key(text(key, lang), lang)}"

    def state(self) -> AgentState:
        return self.coord.engine.board.state("agent1")


async def test_the_agent_hears_the_tenants_language_and_logs_in_then_pauses(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path)
    h.fake.start_call("p1", args=["agent-login", "acme"], caller="agent1")
    await h.heard(Text.AGENT_LOGIN, "sv")
    h.fake.dtmf("p1", "501#1234#")
    await h.fake.wait_calls_done()
    assert h.state() is AgentState.AVAILABLE
    assert h.last_heard() == h.media(Text.AGENT_AVAILABLE, "sv")
    assert {lang for _, lang in h.spoken} == {"sv"}

    h.fake.start_call("p2", args=["agent-login", "acme"], caller="agent1")
    await h.heard(Text.AGENT_LOGIN, "sv", times=2)
    h.fake.dtmf("p2", "501#1234#")
    await h.heard(Text.AGENT_CHOOSE, "sv")
    h.fake.dtmf("p2", "2")
    await h.fake.wait_calls_done()
    assert h.state() is AgentState.PAUSED
    assert h.last_heard() == h.media(Text.AGENT_PAUSED, "sv")


async def test_a_tenant_without_definitions_is_spoken_to_in_finnish(tmp_path: Path) -> None:
    h = Harness(tmp_path, replace(FLOWS, tenant="other"))
    h.fake.start_call("p3", args=["agent-login", "acme"], caller="agent1")
    await h.heard(Text.AGENT_LOGIN, "fi")
    h.fake.hangup("p3")
    await h.fake.wait_calls_done()
    assert h.spoken == [(text(Text.AGENT_LOGIN, "fi"), "fi")]


async def test_three_wrong_pins_end_the_call_logged_out(tmp_path: Path) -> None:
    h = Harness(tmp_path, replace(FLOWS, language="en"))
    h.fake.start_call("p4", args=["agent-login", "acme"], caller="agent1")
    for n in range(1, 4):
        await h.heard(Text.AGENT_LOGIN, "en", times=n)
        h.fake.dtmf("p4", "501#9999#")
        await h.heard(Text.AGENT_WRONG, "en", times=n)
    await h.fake.wait_calls_done()
    assert h.state() is AgentState.LOGGED_OUT
    assert h.last_heard() == h.media(Text.AGENT_GOODBYE, "en")


async def test_phone_login_of_another_tenant_is_refused(tmp_path: Path) -> None:
    """Issue 13 item 2: a phone login must belong to the tenant whose number was dialled
    (before, any tenant's login and PIN worked on every tenant's `*50`)."""
    h = Harness(tmp_path)
    h.fake.start_call("p5", args=["agent-login", "other"], caller="agent1")
    for n in range(1, 4):
        await h.heard(Text.AGENT_LOGIN, "fi", times=n)
        h.fake.dtmf("p5", "501#1234#")  # acme's agent, right PIN, on other's number
        await h.heard(Text.AGENT_WRONG, "fi", times=n)
    await h.fake.wait_calls_done()
    assert h.state() is AgentState.LOGGED_OUT
    assert h.auth.attempts == [(OTHER, "501")] * 3
    assert h.auth.failures == {}  # nothing counted against acme's agent


def played(h: Harness, key: Text) -> int:
    return h.fake.media_played().count(h.media(key, "sv"))


async def keyed_call(h: Harness, cid: str, keys: list[str]) -> None:
    """One `*50` call to acme keying each of ``keys`` at a login prompt, to its end."""
    asked = played(h, Text.AGENT_LOGIN)
    h.fake.start_call(cid, args=["agent-login", "acme"], caller="agent1")
    for n, key in enumerate(keys, start=1):
        await h.heard(Text.AGENT_LOGIN, "sv", times=asked + n)
        h.fake.dtmf(cid, key)
        if key.endswith("1234#") and h.state() is AgentState.LOGGED_OUT:
            break
    await h.fake.wait_calls_done()


async def test_phone_login_failures_count_across_calls_and_lock_the_login(
    tmp_path: Path,
) -> None:
    """Issue 13 item 2: PIN guesses are limited per phone login, not per call (before, every
    new call had three fresh attempts, so guessing never stopped)."""
    h = Harness(tmp_path)
    await keyed_call(h, "q1", ["501#9999#"] * 3)
    await keyed_call(h, "q2", ["501#9998#"] * 2)  # the 5th failure locks: the call ends
    assert played(h, Text.AGENT_WRONG) == THRESHOLD == played(h, Text.AGENT_LOGIN)
    assert h.auth.failures[AGENT.id] == THRESHOLD and h.auth.locked[AGENT.id] > T0
    h.now = T0 + timedelta(minutes=1)
    await keyed_call(h, "q3", ["501#1234#"])  # the right PIN while locked: refused
    assert h.state() is AgentState.LOGGED_OUT
    assert h.last_heard() == h.media(Text.AGENT_GOODBYE, "sv")
    h.now = h.auth.locked[AGENT.id] + timedelta(seconds=1)  # the lock ran out
    await keyed_call(h, "q4", ["501#1234#"])
    assert h.state() is AgentState.AVAILABLE and AGENT.id not in h.auth.failures
