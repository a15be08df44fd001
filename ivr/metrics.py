"""The controller's Prometheus metrics, on a registry of its own (no global state).

One :class:`Metrics` per controller. It is the ARI client's request observer, the flow
router's flow events and the reconciler's action log; gauges that are read at scrape time
(flows in flight, ARI requests in flight, event-loop lag, spool depth) are given as
functions with :meth:`Metrics.gauge_from`. :meth:`render` is the text exposition format.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.calls_started = Counter(
            "linja_calls_started", "Call flows started, by flow.", ["flow"], registry=r
        )
        self.calls_ended = Counter(
            "linja_calls_ended", "Call flows ended, by flow.", ["flow"], registry=r
        )
        self.calls_shed = Counter(
            "linja_calls_shed",
            "New calls sent to their dialplan fallback instead of a flow, by flow and reason "
            "(flows, ari, lag).",
            ["flow", "reason"],
            registry=r,
        )
        self.ari_latency = Histogram(
            "linja_ari_request_seconds",
            "ARI REST request latency, by method.",
            ["method"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.ari_errors = Counter(
            "linja_ari_request_errors",
            "ARI REST requests with no answer (outcome=unavailable) or a 5xx, by method.",
            ["method", "outcome"],
            registry=r,
        )
        self.ari_retries = Counter(
            "linja_ari_request_retries",
            "ARI REST requests sent again, by method.",
            ["method"],
            registry=r,
        )
        self.reconciler_actions = Counter(
            "linja_reconciler_actions",
            "What the reconciler did about a difference between Asterisk and the controller "
            "(adopt, continue, hangup, forget, failed).",
            ["action"],
            registry=r,
        )

    def gauge_from(self, name: str, doc: str, read: Callable[[], float]) -> None:
        """A gauge whose value is ``read()`` at scrape time."""
        Gauge(name, doc, registry=self.registry).set_function(read)

    # -- ivr.ari.client.RequestObserver ---------------------------------------------------

    def request_done(self, method: str, outcome: str, seconds: float) -> None:
        self.ari_latency.labels(method).observe(seconds)
        if outcome == "unavailable" or outcome.startswith("5"):
            self.ari_errors.labels(method, outcome).inc()

    def request_retried(self, method: str) -> None:
        self.ari_retries.labels(method).inc()

    # -- ivr.flows.router.FlowEvents ------------------------------------------------------

    def flow_started(self, flow: str) -> None:
        self.calls_started.labels(flow).inc()

    def flow_ended(self, flow: str) -> None:
        self.calls_ended.labels(flow).inc()

    def flow_shed(self, flow: str, reason: str) -> None:
        self.calls_shed.labels(flow, reason).inc()

    # -- ivr.ari.reconciler.ActionLog -----------------------------------------------------

    def reconciled(self, action: str) -> None:
        self.reconciler_actions.labels(action).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
