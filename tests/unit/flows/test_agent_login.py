"""Agent login by phone against FakeAri: the agent hears their tenant's language (Finnish when
the tenant has no definitions), logs in, then pauses; a wrong PIN three times ends the call."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
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
from tests.unit.fake_ari import FakeAri
from tests.unit.flows.support_recording import Clock, fake_speak

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
FLOWS = TenantFlows(
    "acme", "sv", "main", {}, {}, {"support": Queue("support", ("agent1",))}, None, "/x.toml"
)
AGENT = UserInfo(
    uuid.UUID(int=5), None, "Agent One", "agent1", None, Role.TEAM, None, "501", True, T0, None
)


class Definitions:
    def __init__(self, flows: TenantFlows) -> None:
        self.flows = flows

    def get(self, tenant: str) -> TenantFlows | None:
        return self.flows if tenant == self.flows.tenant else None

    def agents(self) -> set[str]:
        return {a for q in self.flows.queues.values() for a in q.agents}


class PhoneAuth:
    async def authenticate_phone(self, phone_login: str, pin: str) -> UserInfo | None:
        return AGENT if (phone_login, pin) == ("501", "1234") else None


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
        flow = AgentLoginFlow(self.coord, PhoneAuth(), prompts, Definitions(flows))
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
