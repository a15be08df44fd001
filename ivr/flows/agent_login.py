"""Agents log in, log out and pause by phone: dial the feature code (`Stasis(linja,
agent-login,<tenant>)`), key in the phone login and PIN (each ended with #), then choose.
A logged-out agent is logged in at once; a logged-in one chooses 1 log out, 2 pause,
3 resume. Three failed PIN attempts end the call. The agent hears the tenant's language
(Finnish when the tenant has no flow definitions)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from ivr.ari.call import Call
from ivr.callcenter.agents import Agent, AgentState
from ivr.callcenter.coordinator import QueueCoordinator
from ivr.flowdefs.model import TenantFlows
from ivr.prompts import PromptRenderer
from ivr.texts import DEFAULT_LANGUAGE, Text, text
from storage.domain import UserInfo

log = logging.getLogger(__name__)

ATTEMPTS = 3

CHOICES = {"1": "logout", "2": "pause", "3": "unpause"}
NOW = {  # what the agent hears about their new state
    AgentState.AVAILABLE: Text.AGENT_AVAILABLE,
    AgentState.LOGGED_OUT: Text.AGENT_LOGGED_OUT,
    AgentState.PAUSED: Text.AGENT_PAUSED,
}


class PhoneAuth(Protocol):
    async def authenticate_phone(self, phone_login: str, pin: str) -> UserInfo | None: ...


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
    ) -> None:
        self._coord = coordinator
        self._users = users
        self._prompts = prompts
        self._defs = definitions

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

    async def run(self, call: Call, tenant: str) -> None:
        cid = call.channel_id
        lang = self._language(cid, tenant)
        await call.answer()
        user = None
        for attempt in range(1, ATTEMPTS + 1):
            phone_login = await self._ask(call, Text.AGENT_LOGIN, lang)
            pin = await self._ask(call, Text.AGENT_PIN, lang)
            if phone_login and pin:
                user = await self._users.authenticate_phone(phone_login, pin)
            if user is not None and user.login in self._defs.agents():
                break
            # No hint whether the login or the PIN was wrong; never log the PIN.
            log.warning(
                "[%s] agent phone login failed (attempt %d/%d; %d login digits, %d PIN digits)",
                cid,
                attempt,
                ATTEMPTS,
                len(phone_login),
                len(pin),
            )
            user = None
            await self._say(call, Text.AGENT_WRONG, lang)
        if user is None:
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
