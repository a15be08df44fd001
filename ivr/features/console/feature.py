"""The ops console: the JSON health and bulletin endpoints, and the browser console's pages
(:mod:`ivr.console`). Wired last: its page areas use what the other features offer."""

from __future__ import annotations

from aiohttp import web

from ivr.bulletins.service import BulletinService
from ivr.console.pages import add_console
from ivr.core import Core, Feature
from ivr.http.console import ConsoleDeps, add_routes


async def wire(core: Core) -> Feature:
    deps = ConsoleDeps(
        core.services.need(BulletinService),
        core.dispatcher,
        core.clock,
        lambda: core.stream.connected,
        core.events.seen,
        load=lambda: {
            "shed": dict(core.router.shed),
            "load": {
                "flows_running": core.router.flows_running,
                "ari_in_flight": core.ari_in_flight(),
                "loop_lag_s": round(core.lag.seconds, 4),
                "limits": {
                    "max_flows": core.gate.limits.max_flows,
                    "max_ari_inflight": core.gate.limits.max_ari_inflight,
                    "max_loop_lag_s": core.gate.limits.max_loop_lag,
                },
            },
        },
    )

    def routes(app: web.Application) -> None:
        add_routes(app, deps)
        add_console(app, core)

    return Feature("console", routes=(routes,))
