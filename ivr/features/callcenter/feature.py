"""Agents and queue state: the queue engine and its coordinator (agent states kept across
restarts in Postgres, backed by `.run/agents-state.json`), agent login/logout/pause by phone
(`*50`) and over the API. Offers the coordinator and the agent store."""

from __future__ import annotations

import os

from ivr.callcenter.agents import AgentBoard
from ivr.callcenter.coordinator import QueueCoordinator
from ivr.callcenter.engine import QueueEngine
from ivr.callcenter.store import DurableAgentStore, FileAgentStore
from ivr.core import Core, Feature
from ivr.flows.agent_login import AgentLoginFlow
from ivr.http.agents import add_routes
from storage.passwords import Hasher
from storage.repositories.agent_states import AgentStateRepository
from storage.repositories.phone_logins import PhoneLogins


async def wire(core: Core) -> Feature:
    store = DurableAgentStore(
        AgentStateRepository(core.sessions),
        FileAgentStore(core.settings.state_dir / "agents-state.json"),
        controller=f"{os.uname().nodename}:{os.getpid()}",
    )
    saved = await store.load()
    board = AgentBoard.restore(saved, core.clock()) if saved else None
    engine = QueueEngine({}, board)
    coordinator = QueueCoordinator(engine, core.clock, store=store)
    definitions = core.definitions
    definitions.on_change(lambda _flows: engine.set_queues(definitions.queues()))
    engine.set_queues(definitions.queues())
    core.services.offer(coordinator, store)
    return Feature(
        "callcenter",
        flows=(
            AgentLoginFlow(
                coordinator,
                PhoneLogins(core.sessions, Hasher()),
                core.prompts,
                definitions,
                core.directory,
                core.clock,
            ),
        ),
        routes=(
            lambda app: add_routes(
                app, coordinator, core.guard, definitions.agents, core.directory
            ),
        ),
        tasks=(("queues", coordinator.run),),
        closers=(coordinator.flush_agents,),
    )
