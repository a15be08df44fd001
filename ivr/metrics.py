"""The controller's Prometheus metrics, on a registry of its own (no global state).

One :class:`Metrics` per controller. It is the ARI client's request observer, the flow
router's flow events and the reconciler's action log; gauges that are read at scrape time
(flows in flight, ARI requests in flight, event-loop lag, spool depth) are given as
functions with :meth:`Metrics.gauge_from`. :meth:`render` is the text exposition format.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST

_BATCH = 4096  # ARI latencies kept before they go into the histogram

_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # Flows started and ended: plain tallies a call, read at scrape time.
        self._started: Tally[str] = Tally()
        self._ended: Tally[str] = Tally()
        self._latencies: list[tuple[str, float]] = []
        r.register(
            _TallyCollector("linja_calls_started", "Call flows started, by flow.", self._started)
        )
        r.register(_TallyCollector("linja_calls_ended", "Call flows ended, by flow.", self._ended))
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
        # Batched: a list append a request; the histogram takes them at scrape time (or
        # every _BATCH requests, so an unscraped controller holds no more than that).
        self._latencies.append((method, seconds))
        if len(self._latencies) >= _BATCH:
            self._fold()
        if outcome == "unavailable" or outcome.startswith("5"):
            self.ari_errors.labels(method, outcome).inc()

    def request_retried(self, method: str) -> None:
        self.ari_retries.labels(method).inc()

    def _fold(self) -> None:
        batch, self._latencies = self._latencies, []
        children: dict[str, Any] = {}
        for method, seconds in batch:
            child = children.get(method)
            if child is None:
                child = children[method] = self.ari_latency.labels(method)
            child.observe(seconds)

    # -- ivr.flows.router.FlowEvents ------------------------------------------------------

    def flow_started(self, flow: str) -> None:
        self._started[flow] += 1

    def flow_ended(self, flow: str) -> None:
        self._ended[flow] += 1

    def flow_shed(self, flow: str, reason: str) -> None:
        self.calls_shed.labels(flow, reason).inc()

    # -- ivr.ari.reconciler.ActionLog -----------------------------------------------------

    def reconciled(self, action: str) -> None:
        self.reconciler_actions.labels(action).inc()

    def render(self) -> bytes:
        self._fold()
        return generate_latest(self.registry)


class _TallyCollector(Collector):
    """A counter by ``flow`` kept as a plain :class:`collections.Counter` (no lock, no label
    look-up a call), exposed like a prometheus_client Counter (``<name>_total``)."""

    def __init__(self, name: str, doc: str, tally: Tally[str]) -> None:
        self._name = name
        self._doc = doc
        self._tally = tally

    def describe(self) -> list[Metric]:
        return [CounterMetricFamily(self._name, self._doc, labels=["flow"])]

    def collect(self) -> list[Metric]:
        family = CounterMetricFamily(self._name, self._doc, labels=["flow"])
        for flow, n in sorted(self._tally.items()):
            family.add_metric([flow], n)
        return [family]
