"""Prometheus metrics at /metrics; every name starts with `kiln_`.

Job counts and stage durations are read from Redis at scrape time (workers do the
transitions, not this process), with a short cache so frequent scrapes stay cheap. The workers'
own counters and stage-run histogram (retries, redeliveries, cancels, reaped sandboxes) live in
Redis too (domain/telemetry.py). Cancel latency is measured here, where cancels are handled.

With KILN_METRICS_TOKEN set, a scrape must send it as `Authorization: Bearer <token>` (401
otherwise); unset, anyone who reaches the web port can read the metrics.
"""

from __future__ import annotations

import hmac
import time
from collections import Counter
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from domain.status import Status
from domain.telemetry import COUNTERS, Telemetry
from web.errors import ApiError
from web.state import blocking, kiln

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_ORDER = [s.value for s in Status]
_QUANTILES = (0.5, 0.95)


class _RedisCollector(Collector):
    def __init__(self, k: Any, cache_s: float = 5.0, max_jobs: int = 20_000) -> None:
        self.k = k
        self.cache_s = cache_s
        self.max_jobs = max_jobs
        self._cached: tuple[float, Counter[str], dict[str, list[float]]] | None = None

    def _scan_jobs(self) -> tuple[Counter[str], dict[str, list[float]]]:
        if self._cached and time.monotonic() - self._cached[0] < self.cache_s:
            return self._cached[1], self._cached[2]
        r, keys = self.k.store.redis, self.k.keys
        job_keys = [key for key in r.scan_iter(match=keys.job("*"), count=1000)
                    if key.count(":") == keys.job("x").count(":")][: self.max_jobs]
        pipe = r.pipeline(transaction=False)
        for key in job_keys:
            pipe.hmget(key, ["status", *(f"{s}_at" for s in _ORDER)])
        by_status: Counter[str] = Counter()
        durations: dict[str, list[float]] = {}
        for row in pipe.execute() if job_keys else []:
            if not row[0]:
                continue
            by_status[row[0]] += 1
            # A stage lasts from its own timestamp to the next later one.
            stamps = sorted((float(t), s) for s, t in zip(_ORDER, row[1:], strict=True) if t)
            for (t0, stage), (t1, _) in zip(stamps, stamps[1:], strict=False):
                durations.setdefault(stage, []).append(t1 - t0)
        self._cached = (time.monotonic(), by_status, durations)
        return by_status, durations

    def collect(self) -> Any:
        by_status, durations = self._scan_jobs()
        jobs = GaugeMetricFamily("kiln_jobs", "Jobs in Redis by status", labels=["status"])
        for status in _ORDER:
            jobs.add_metric([status], by_status.get(status, 0))
        yield jobs
        stage = GaugeMetricFamily("kiln_stage_duration_seconds",
                                  "Time jobs spent in each status (quantiles over jobs in Redis)",
                                  labels=["stage", "quantile"])
        for name, values in durations.items():
            values.sort()
            for q in _QUANTILES:
                stage.add_metric([name, str(q)], values[min(len(values) - 1,
                                                            int(q * len(values)))])
        yield stage
        yield GaugeMetricFamily("kiln_queue_depth", "Jobs waiting for capacity",
                                value=self.k.capacity.queue_depth())
        yield GaugeMetricFamily("kiln_live_sandboxes", "Sandboxes registered in Redis",
                                value=self.k.store.redis.hlen(self.k.keys.sandboxes()))
        yield GaugeMetricFamily("kiln_sse_subscribers", "Open event streams on this process",
                                value=self.k.hub.subscriber_count())


class _WorkerCollector(Collector):
    """What the workers counted in Redis (domain/telemetry.py): every worker on every host adds
    to the same numbers, so any web process exposes the fleet's totals (scrape one)."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry

    def collect(self) -> Any:
        snap = self.telemetry.snapshot()
        for metric, (help_text, labels) in COUNTERS.items():
            family = CounterMetricFamily(f"kiln_{metric}", help_text, labels=list(labels))
            for values, count in sorted(snap.counters.get(metric, {}).items()):
                family.add_metric(list(values), count)
            yield family
        seconds = HistogramMetricFamily("kiln_stage_run_seconds",
                                        "Time a stage's work took on a worker", labels=["stage"])
        for stage, (buckets, total) in snap.histograms.items():
            seconds.add_metric([stage], buckets, total)
        yield seconds
        waits = HistogramMetricFamily("kiln_stage_queue_wait_seconds",
                                      "Time a stage's message waited for a worker (sent -> "
                                      "stage entered)", labels=["stage"])
        for stage, (buckets, total) in snap.queue_waits.items():
            waits.add_metric([stage], buckets, total)
        yield waits


class Metrics:
    """One registry per app, so several apps (tests) can live in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.cancel_latency = Histogram(
            "kiln_cancel_latency_seconds", "From a cancel request to the job being FAILED",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5), registry=self.registry)

    def bind(self, k: Any) -> None:
        self.registry.register(_RedisCollector(k))
        self.registry.register(_WorkerCollector(Telemetry(k.store.redis, k.store.prefix)))


def _require_token(request: Request, expected: str) -> None:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if not (scheme.lower() == "bearer"
            and hmac.compare_digest(given.strip().encode(), expected.encode())):
        raise ApiError(401, "unauthorized", "Metrics need the bearer token (KILN_METRICS_TOKEN)",
                       {"WWW-Authenticate": "Bearer"})


async def metrics(request: Request) -> Response:
    k = kiln(request)
    if k.settings.metrics_token:
        _require_token(request, k.settings.metrics_token)
    body = await blocking(generate_latest, k.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE)
