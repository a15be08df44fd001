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
        load=lambda: {
            "shed": dict(core.router.shed),
            "load": {
                "flows_running": core.router.flows_running,
                "ari_in_flight": core.ari.in_flight,
                "loop_lag_s": round(core.lag.seconds, 4),
                "limits": {
                    "max_flows": core.gate.limits.max_flows,
                    "max_ari_inflight": core.gate.limits.max_ari_inflight,
                    "max_loop_lag_s": core.gate.limits.max_loop_lag,
                },
            },
        },
    )
    return Feature("console", routes=(lambda app: add_routes(app, deps),))
