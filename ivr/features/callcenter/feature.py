"""Agents and queue state: the queue engine and its coordinator (agent states kept across
restarts in Postgres, backed by `.run/agents-state.json`), agent login/logout/pause by phone
(`*50`) and over the API. Offers the coordinator and the agent store."""

from __future__ import annotations

import os

from ivr.callcenter.agents import AgentBoard
from ivr.callcenter.coordinator import QueueCoordinator
from ivr.callcenter.engine import QueueEngine
from ivr.callcenter.notices import listen
from ivr.callcenter.shared import SharedQueueCoordinator
from ivr.callcenter.store import DurableAgentStore, FileAgentStore
from ivr.core import Core, Feature
from ivr.flows.agent_login import AgentLoginFlow
from ivr.http.agents import add_routes
from storage.passwords import Hasher
from storage.repositories.agent_states import AgentStateRepository
from storage.repositories.phone_logins import PhoneLogins
from storage.repositories.shared_queues import SharedQueueRows


async def wire(core: Core) -> Feature:
    controller = f"{os.uname().nodename}:{os.getpid()}"
    store = DurableAgentStore(
        AgentStateRepository(core.sessions),
        FileAgentStore(core.settings.state_dir / "agents-state.json"),
        controller=controller,
    )
    coordinator: QueueCoordinator
    if core.settings.shared_queues:
        # several nodes: the queues, offers and agent rows in Postgres (ivr/callcenter/shared.py)
        settings = core.settings
        engine = QueueEngine({})
        coordinator = SharedQueueCoordinator(
            engine,
            core.clock,
            SharedQueueRows(core.sessions, down_after=settings.controller_down_after),
            controller,
            lease=settings.shared_queue_lease,
            listen=lambda poke: listen(settings, poke),
        )
    else:
        saved = await store.load()
        board = AgentBoard.restore(saved, core.clock()) if saved else None
        engine = QueueEngine({}, board)
        coordinator = QueueCoordinator(engine, core.clock, store=store)
    definitions = core.definitions
    definitions.on_change(lambda _flows: coordinator.set_queues(definitions.queues()))
    coordinator.set_queues(definitions.queues())
    core.services.offer(store)
    core.services.offer_as(QueueCoordinator, coordinator)
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
