"""Worker metrics kept in Redis, so any number of worker processes on any number of hosts add
to the same numbers and the web app's /metrics exposes them (no per-process HTTP port).

One hash, `{prefix}:metrics`; each field is `metric|label|label...` -> a count. A stage that
ends adds its increments (outcome count, the histogram bucket it falls in, the duration sum) to
its worker process's sums, which are written every second (actors/telemetry_writer.py).
Buckets are stored non-cumulative (one HINCRBY per observation) and summed at scrape time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis

from domain.keys import Keys

# metric -> (help, label names). Names are exposed as kiln_<metric>_total.
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "stage_runs": ("Stage runs by outcome (done, failed, cancelled, retry, error)", ("stage", "outcome")),
    "stage_retries": ("Stage runs that raised a transient error and were retried", ("stage",)),
    "stage_redeliveries": ("Stage messages delivered again after a crash or shutdown",
                           ("stage",)),
    "stage_cancels": ("Stages stopped by a cancel (at entry or while working)", ("stage",)),
    "stage_worker_lost": ("Stages failed for exceeding their delivery budget", ("stage",)),
    "sandboxes_reaped": ("Sandboxes killed by the reaper", ("reason",)),
    "watchdog_redrives": ("Stalled stages re-driven (ok), lost next messages sent again "
                          "(resent), or failed (exhausted)", ("stage", "outcome")),
    "watchdog_waiting": ("Jobs past their deadline found waiting for a worker (left alone, "
                         "their sandbox lease renewed)", ("stage",)),
    "sandbox_replacements": ("Sandboxes lost mid-build (reaped, timed out, host gone) and "
                             "replaced", ("stage",)),
    "host_lost_moves": ("Jobs of a lost worker host moved to the shared queue: the next "
                        "stage sent again (resent) or the stage taken over (taken_over)",
                        ("stage", "outcome")),
}
BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
# Queue waits run from a few ms (an idle worker) to many minutes (every thread busy).
WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
# Histograms kept in the hash: name -> buckets. Stored as `<name>_bucket|<stage>|<le>` and
# `<name>_sum|<stage>`, exposed as kiln_<name>.
HISTOGRAMS = {"stage_seconds": BUCKETS, "stage_queue_wait_seconds": WAIT_BUCKETS}
_INF = "+Inf"
_OUTCOME_COUNTERS = {"retry": "stage_retries", "cancelled": "stage_cancels"}


def _le(seconds: float, buckets: tuple[float, ...] = BUCKETS) -> str:
    for bound in buckets:
        if seconds <= bound:
            return repr(bound)
    return _INF


Histogram = dict[str, tuple[list[tuple[str, float]], float]]  # stage -> (cumulative, sum)


@dataclass
class Snapshot:
    counters: dict[str, dict[tuple[str, ...], float]] = field(default_factory=dict)
    # stage -> (cumulative [(le, count)], sum of seconds): how long stages ran
    histograms: Histogram = field(default_factory=dict)
    # the same for how long stage messages waited for a worker
    queue_waits: Histogram = field(default_factory=dict)


def metrics_key(prefix: str) -> str:
    return Keys(prefix).metrics()


Increments = list[tuple[str, int | float]]  # (field, amount): what a write adds


def counter(metric: str, *labels: str, n: int = 1) -> Increments:
    if metric not in COUNTERS or len(labels) != len(COUNTERS[metric][1]):
        raise ValueError(f"no counter {metric} with labels {labels}")
    return [("|".join((metric, *labels)), n)]


def stage_increments(stage: str, outcome: str, seconds: float | None) -> Increments:
    """A stage end's increments: its outcome count, the histogram bucket its duration falls in
    and the duration sum; retries and cancels also get their own counter."""
    out: Increments = [(f"stage_runs|{stage}|{outcome}", 1)]
    if outcome in _OUTCOME_COUNTERS:
        out.append((f"{_OUTCOME_COUNTERS[outcome]}|{stage}", 1))
    if seconds is not None:
        out.append((f"stage_seconds_bucket|{stage}|{_le(seconds)}", 1))
        out.append((f"stage_seconds_sum|{stage}", float(seconds)))
    return out


def queue_wait_increments(stage: str, seconds: float) -> Increments:
    """A stage message's wait for a worker (sent -> stage entered): not a failure, a figure."""
    name = "stage_queue_wait_seconds"
    seconds = max(0.0, seconds)
    return [(f"{name}_bucket|{stage}|{_le(seconds, WAIT_BUCKETS)}", 1),
            (f"{name}_sum|{stage}", float(seconds))]


class Telemetry:
    def __init__(self, client: redis.Redis, prefix: str = "kiln") -> None:
        self.redis = client
        self.key = metrics_key(prefix)

    def count(self, metric: str, *labels: str, n: int = 1) -> None:
        [(name, amount)] = counter(metric, *labels, n=n)
        self.redis.hincrby(self.key, name, amount)

    def count_many(self, metric: str, counts: dict[str, int]) -> None:
        """Several single-label increments in one round trip (e.g. reaped sandboxes by reason)."""
        if not counts:
            return
        pipe = self.redis.pipeline(transaction=False)
        for label, n in counts.items():
            pipe.hincrby(self.key, f"{metric}|{label}", n)
        pipe.execute()

    def snapshot(self) -> Snapshot:
        snap = Snapshot()
        buckets: dict[str, dict[str, dict[str, float]]] = {name: {} for name in HISTOGRAMS}
        sums: dict[str, dict[str, float]] = {name: {} for name in HISTOGRAMS}
        for name, raw in self.redis.hgetall(self.key).items():
            metric, *labels = _text(name).split("|")
            value = float(raw)
            family, _, part = metric.rpartition("_")
            if family in HISTOGRAMS and part == "bucket" and len(labels) == 2:
                buckets[family].setdefault(labels[0], {})[labels[1]] = value
            elif family in HISTOGRAMS and part == "sum" and labels:
                sums[family][labels[0]] = value
            elif metric in COUNTERS and len(labels) == len(COUNTERS[metric][1]):
                snap.counters.setdefault(metric, {})[tuple(labels)] = value
        snap.histograms = _cumulative(buckets["stage_seconds"], sums["stage_seconds"], BUCKETS)
        snap.queue_waits = _cumulative(buckets["stage_queue_wait_seconds"],
                                       sums["stage_queue_wait_seconds"], WAIT_BUCKETS)
        return snap


def _cumulative(buckets: dict[str, dict[str, float]], sums: dict[str, float],
                bounds: tuple[float, ...]) -> Histogram:
    out: Histogram = {}
    for stage in sorted(set(buckets) | set(sums)):
        seen, running, cumulative = buckets.get(stage, {}), 0.0, []
        for le in [*(repr(b) for b in bounds), _INF]:
            running += seen.get(le, 0.0)
            cumulative.append((le, running))
        out[stage] = (cumulative, sums.get(stage, 0.0))
    return out


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
