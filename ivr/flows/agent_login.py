"""Agents log in, log out and pause by phone: dial the feature code (`Stasis(linja,
agent-login,<tenant>)`), key in the phone login and PIN (each ended with #), then choose.
A logged-out agent is logged in at once; a logged-in one chooses 1 log out, 2 pause,
3 resume. The phone login must be one of a user of the tenant whose number was dialled, and
an agent of that tenant's queues. Three failed attempts end the call; failures also count per
phone login across calls and controllers (in Postgres), and a login with too many is locked
for an increasing time (:mod:`storage.phone_lock`), also for the right PIN, until it runs out
or an admin unlocks it (`linja agent unlock`). The caller hears no hint which part was
wrong, nor that the login is locked. The agent hears the tenant's language (Finnish when the
tenant has no flow definitions)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from ivr.ari.call import Call
from ivr.callcenter.agents import Agent, AgentState
from ivr.callcenter.coordinator import QueueCoordinator
from ivr.flowdefs.model import TenantFlows
from ivr.prompts import PromptRenderer
from ivr.texts import DEFAULT_LANGUAGE, Text, text
from storage.domain import UserInfo
from storage.phone_lock import PhoneLoginResult

log = logging.getLogger(__name__)

ATTEMPTS = 3

CHOICES = {"1": "logout", "2": "pause", "3": "unpause"}
NOW = {  # what the agent hears about their new state
    AgentState.AVAILABLE: Text.AGENT_AVAILABLE,
    AgentState.LOGGED_OUT: Text.AGENT_LOGGED_OUT,
    AgentState.PAUSED: Text.AGENT_PAUSED,
}


class PhoneAuth(Protocol):
    async def attempt(
        self, tenant_id: uuid.UUID, phone_login: str, pin: str, now: datetime
    ) -> PhoneLoginResult: ...


class TenantIds(Protocol):
    async def tenant_id(self, slug: str) -> uuid.UUID | None: ...


class AgentDefinitions(Protocol):
    """The tenants' flow definitions: their language, and the agents their queues name."""

    def get(self, tenant: str) -> TenantFlows | None: ...

    def agents(self) -> set[str]: ...


class AgentLoginFlow:
    name = "agent-login"

    def __init__(
        self,
        coordinator: QueueCoordinator,
        users: PhoneAuth,
        prompts: PromptRenderer,
        definitions: AgentDefinitions,
        tenants: TenantIds,
        clock: Callable[[], datetime],
    ) -> None:
        self._coord = coordinator
        self._users = users
        self._prompts = prompts
        self._defs = definitions
        self._tenants = tenants
        self._clock = clock

    def _language(self, cid: str, tenant: str) -> str:
        flows = self._defs.get(tenant)
        if flows is None:
            log.warning(
                "[%s] agent login: tenant %r has no flow definitions; speaking %s",
                cid,
                tenant,
                DEFAULT_LANGUAGE,
            )
            return DEFAULT_LANGUAGE
        return flows.language

    async def _say(self, call: Call, key: Text, lang: str) -> None:
        await call.play(await self._prompts.text(text(key, lang), lang))

    async def _ask(self, call: Call, key: Text, lang: str, max_digits: int = 12) -> str:
        media = await self._prompts.text(text(key, lang), lang)
        return await call.prompt_digits(
            media, max_digits, first_timeout=8, inter_timeout=4, terminators="#"
        )

    async def _authenticate(
        self, call: Call, tenant: str, tenant_id: uuid.UUID, lang: str
    ) -> UserInfo | None:
        """The agent of ``tenant`` who keyed their phone login and PIN, within the attempts
        of one call and while the login is not locked; None otherwise."""
        cid = call.channel_id
        agents = self._tenant_agents(tenant)
        for attempt in range(1, ATTEMPTS + 1):
            phone_login = await self._ask(call, Text.AGENT_LOGIN, lang)
            pin = await self._ask(call, Text.AGENT_PIN, lang)
            outcome = None
            if phone_login and pin:
                outcome = await self._users.attempt(tenant_id, phone_login, pin, self._clock())
                if outcome.user is not None and outcome.user.login in agents:
                    return outcome.user
            # No hint whether the login or the PIN was wrong; never log the PIN.
            log.warning(
                "[%s] agent phone login failed (attempt %d/%d; %d login digits, %d PIN digits)",
                cid,
                attempt,
                ATTEMPTS,
                len(phone_login),
                len(pin),
            )
            await self._say(call, Text.AGENT_WRONG, lang)
            if outcome is not None and outcome.locked_until is not None:
                log.warning(
                    "[%s] agent phone login locked until %s (%d failures)",
                    cid,
                    outcome.locked_until.isoformat(timespec="seconds"),
                    outcome.failures,
                )
                return None
        return None

    def _tenant_agents(self, tenant: str) -> set[str]:
        flows = self._defs.get(tenant)
        return set() if flows is None else {a for q in flows.queues.values() for a in q.agents}

    async def run(self, call: Call, tenant: str) -> None:
        cid = call.channel_id
        lang = self._language(cid, tenant)
        await call.answer()
        tenant_id = await self._tenants.tenant_id(tenant)
        user = (
            None if tenant_id is None else await self._authenticate(call, tenant, tenant_id, lang)
        )
        if user is None:
            if tenant_id is None:
                log.error("[%s] agent login: no tenant %r in the database", cid, tenant)
            await self._say(call, Text.AGENT_GOODBYE, lang)
            await call.hangup()
            return
        agent = user.login
        state = self._coord.engine.board.state(agent)
        if state is AgentState.LOGGED_OUT:
            result = self._coord.login(agent)
        else:
            choice = await self._ask(call, Text.AGENT_CHOOSE, lang, max_digits=1)
            action = CHOICES.get(choice)
            if action is None:
                await self._say(call, Text.AGENT_GOODBYE, lang)
                await call.hangup()
                return
            result = self._change(agent, action)
        await self._coord.flush_agents()
        log.info("[%s] agent %s by phone: now %s", cid, agent, result.state.value)
        await self._say(call, NOW.get(result.state, Text.AGENT_GOODBYE), lang)
        await call.hangup()

    def _change(self, agent: str, action: str) -> Agent:
        if action == "pause":
            return self._coord.pause(agent, "phone")
        change: Callable[[str], Agent] = getattr(self._coord, action)
        return change(agent)
