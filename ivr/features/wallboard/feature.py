"""The live wallboard: ``GET /api/tenants/{slug}/wallboard`` (the document) and
``…/wallboard/events`` (Server-Sent Events), rebuilt when the queue engine or an agent
record changes. Needs the call center's coordinator and agent store."""

from __future__ import annotations

from ivr.callcenter.coordinator import QueueCoordinator
from ivr.callcenter.store import DurableAgentStore
from ivr.core import Core, Feature
from ivr.http.wallboard import add_routes
from ivr.wallboard.service import Wallboards
from ivr.wallboard.source import WallboardSource
from storage.repositories.agent_states import AgentStateRepository
from storage.repositories.controllers import ControllerRepository
from storage.repositories.wallboard import WallboardRepository


async def wire(core: Core) -> Feature:
    coordinator = core.services.need(QueueCoordinator)
    store = core.services.need(DurableAgentStore)
    source = WallboardSource(
        core.definitions,
        coordinator.engine,
        core.tenants,
        WallboardRepository(core.sessions),
        AgentStateRepository(core.sessions),
        core.clock,
        nodes=core.services.need(ControllerRepository),
    )
    wallboards = Wallboards(source, core.clock)
    coordinator.on_change(wallboards.poke)
    store.on_saved(lambda _records: wallboards.poke())
    core.services.offer(wallboards)
    return Feature(
        "wallboard",
        routes=(lambda app: add_routes(app, wallboards, core.guard, core.directory),),
        closers=(wallboards.close,),
    )
