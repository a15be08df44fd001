"""Surges: the reconciler, the event-loop lag monitor, the call center's pre-rendered busy
prompt (where shed calls go), and ``/metrics`` for Prometheus."""

from __future__ import annotations

from ivr import audio
from ivr.ari.reconciler import Reconciler
from ivr.core import Core, Feature
from ivr.http.metrics import add_routes
from ivr.load.busy import write_busy_prompts


async def wire(core: Core) -> Feature:
    s = core.settings
    reconciler = Reconciler(
        core.ari,
        core.dispatcher,
        s.ari_app,
        interval=s.reconcile_interval,
        actions=core.metrics,
        connected=lambda: core.stream.connected,
    )
    m = core.metrics
    m.gauge_from(
        "linja_flows_in_flight", "Call flows running.", lambda: core.dispatcher.active_calls
    )
    m.gauge_from(
        "linja_ari_requests_in_flight",
        "ARI REST requests sent or waiting for a pooled connection.",
        core.ari_in_flight,
    )
    m.gauge_from("linja_event_loop_lag_seconds", "Event-loop lag.", lambda: core.lag.seconds)
    m.gauge_from(
        "linja_spool_bytes",
        "Bytes of case records spooled while Postgres cannot take them.",
        lambda: core.cases.stats().spool_bytes,
    )
    m.gauge_from(
        "linja_spool_pending",
        "Case records waiting to be written.",
        lambda: core.cases.stats().pending,
    )
    fallback = s.in_root(s.fallback_inner)

    async def busy_prompts() -> None:
        await write_busy_prompts(fallback, audio.speak)

    return Feature(
        "capacity",
        routes=(lambda app: add_routes(app, core.guard, m),),
        tasks=(
            ("loop-lag", core.lag.run),
            ("reconciler", reconciler.run),
            ("busy-prompts", busy_prompts),
        ),
    )
