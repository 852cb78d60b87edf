"""`GET /metrics`: the gateway's Prometheus metrics, in one registry per app.

    driftgate_gateway_requests_total{kind,route,arm,model,status}
    driftgate_gateway_request_seconds{kind,route,arm,model,status}   (histogram)
    driftgate_gateway_errors_total{kind,route,model,type}
    driftgate_gateway_answers_total{route,arm,model,shadow,outcome}  (every logged decision)
    driftgate_gateway_feedback_total{route,verdict}
    driftgate_gateway_canary_weight{route,arm}                       (live weights, at scrape)
    driftgate_gateway_canary_verdict{route,action}                   (1 for the last verdict)

`kind` is `route`, `prompt` or `model`; `route` is the route's name, `@gateway` for the
other two. Shadow calls are the `answers_total` series with `shadow="true"`: they never
reach a client, so only the traffic log (its listener here) sees them. A registry per app
(not the process-wide default) lets tests build many apps in one process.

With several workers (`serve --workers N`) the counters and histograms are prometheus-client's
multiprocess ones: `serve` gives the workers one `PROMETHEUS_MULTIPROC_DIR`, each worker
writes its values there, and a scrape on any worker sums every worker's (a scrape lands on
one worker at random, so per-process counts would jump). The weights are read from the
shared state, so every worker reports them; the last canary verdict is the one the scraped
worker judged itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from ..router import Decision
    from .routes import RouterPool

# Seconds: the gateway's own overhead is sub-millisecond, a model call tens of ms to minutes.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's own name for it


class GatewayMetrics:
    def __init__(self, pool: RouterPool) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["kind", "route", "arm", "model", "status"]
        self.requests = Counter(
            "driftgate_gateway_requests", "Requests answered, by outcome status.", labels,
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "driftgate_gateway_request_seconds", "Request latency, end to end.", labels,
            buckets=BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.errors = Counter(
            "driftgate_gateway_errors", "Requests that failed, by OpenAI error type.",
            ["kind", "route", "model", "type"], registry=self.registry,
        )  # fmt: skip
        self.answers = Counter(
            "driftgate_gateway_answers", "Logged decisions: live and shadow calls.",
            ["route", "arm", "model", "shadow", "outcome"], registry=self.registry,
        )  # fmt: skip
        self.feedback = Counter(
            "driftgate_gateway_feedback", "Feedback events.", ["route", "verdict"],
            registry=self.registry,
        )  # fmt: skip
        self.canary = _CanaryCollector(pool)
        self.registry.register(self.canary)

    def observe(
        self, kind: str, route: str, arm: str, model: str, status: int, seconds: float
    ) -> None:
        values = (kind, route, arm, model, str(status))
        self.requests.labels(*values).inc()
        self.latency.labels(*values).observe(seconds)

    def error(self, kind: str, route: str, model: str, type_: str) -> None:
        self.errors.labels(kind, route, model, type_).inc()

    def decision(self, d: Decision) -> None:
        """A traffic log listener: every logged answer, live or shadow."""
        outcome = "error" if d.error else "ok"
        self.answers.labels(d.route, d.arm, d.model, str(d.shadow).lower(), outcome).inc()

    def render(self) -> bytes:
        if not os.environ.get(MULTIPROC_ENV):
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        # Every worker's counters and histograms, from their files; this worker's gauges.
        scrape = CollectorRegistry()
        multiprocess.MultiProcessCollector(scrape)
        scrape.register(self.canary)
        return generate_latest(scrape)


class _CanaryCollector(Collector):
    """Live weights and the last canary verdict of every loaded route, read at scrape time
    (a weight moved by another process shows on the next scrape)."""

    def __init__(self, pool: RouterPool) -> None:
        self.pool = pool

    def collect(self) -> Iterator[Metric]:
        weights = GaugeMetricFamily(
            "driftgate_gateway_canary_weight", "Live weight of each arm (percent).",
            labels=["route", "arm"],
        )  # fmt: skip
        verdicts = GaugeMetricFamily(
            "driftgate_gateway_canary_verdict",
            "The last canary verdict of each route (1 on its action).",
            labels=["route", "action"],
        )
        for name, router in list(self.pool.routers.items()):
            for arm, weight in router.weights.items():
                weights.add_metric([name, arm], weight)
            if router.last_canary is not None:
                verdicts.add_metric([name, router.last_canary.action], 1)
        yield weights
        yield verdicts
