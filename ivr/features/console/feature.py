"""The ops console: health, live calls, ARI event counts and the bulletins in force."""

from __future__ import annotations

from ivr.bulletins.service import BulletinService
from ivr.core import Core, Feature
from ivr.http.console import ConsoleDeps, add_routes


async def wire(core: Core) -> Feature:
    deps = ConsoleDeps(
        core.services.need(BulletinService),
        core.dispatcher,
        core.clock,
        lambda: core.stream.connected,
        core.events.seen,
    )
    return Feature("console", routes=(lambda app: add_routes(app, deps),))
