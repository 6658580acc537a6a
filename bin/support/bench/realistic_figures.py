"""The realistic benchmark's figures, from what the run left in Redis: the jobs (their stage
entry times), the simulated work's spans, and the monitor's samples.

- Saturated window: while builds waited for admission (every slot held, so stage messages
  queued behind busy threads). Utilisation there = simulated work done / (threads x window);
  what is missing is orchestration and queueing overhead (entries, hand-offs, hops, idle
  threads while messages wait). Builds/hour in the window against the ideal,
  threads x 3600 / mean work per build.
- Queue wait per stage message: its stage entry minus the end of the work before it (the
  hand-off follows the work within milliseconds; scaffold's own work is a write).
- ETA error, for builds sent after the first 20 had finished (the moving average's window):
  |predicted - actual| / actual time from the start request to READY, for the finish, and
  for the start (entering `starting`) on the same scale.
- Wasted stage-seconds: work done again (same job, kind and iteration) or cut short.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bin.support.bench import common
from bin.support.bench.sim_work import WorkLog
from domain.status import Status
from domain.store import JobStore

WARMUP = 20


def _overlap(start: float, end: float, lo: float, hi: float) -> float:
    return max(0.0, min(end, hi) - max(start, lo))


def _pct(values: list[float], digits: int = 3) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(values)}
    for name, p in (("p50", 50), ("p90", 90), ("p99", 99)):
        value = common.percentile(values, p)
        out[name] = None if value is None else round(value, digits)
    return out


def compute(store: JobStore, submitted: list[dict[str, Any]], samples: list[dict[str, float]],
            threads: int) -> dict[str, Any]:
    jobs = {j.job_id: j for j in store.get_jobs([s["job_id"] for s in submitted])}
    spans = WorkLog(store.redis, store.prefix).spans()
    ready = [j for j in jobs.values() if j.status == Status.READY]
    by_job: dict[str, list[dict]] = defaultdict(list)
    for span in spans:
        by_job[span["job_id"]].append(span)
    seen, wasted, work = set(), 0.0, 0.0
    for span in sorted(spans, key=lambda s: s["start"]):
        seconds = span["end"] - span["start"]
        key = (span["job_id"], span["kind"], span["iteration"])
        if key in seen or span["outcome"] != "ok":
            wasted += seconds
        else:
            work += seconds
        seen.add(key)
    mean_work = work / max(1, len(ready))
    saturated = [s["t"] for s in samples if s["queued"] > 0]
    lo, hi = (min(saturated), max(saturated)) if saturated else (0.0, 0.0)
    window = hi - lo
    busy = sum(_overlap(s["start"], s["end"], lo, hi) for s in spans)
    done_in_window = sum(1 for j in ready if lo <= j.timestamps["ready"] <= hi)
    utilisation = busy / (threads * window) if window > 0 else None
    ideal = threads * 3600 / mean_work if mean_work else None
    actual = done_in_window * 3600 / window if window > 0 else None
    return {
        "builds": len(submitted), "ready": len(ready),
        "failed": sum(1 for j in jobs.values() if j.status == Status.FAILED),
        "redrives": sum(j.redrives for j in jobs.values()),
        "replacements": sum(j.sandbox_replacements for j in jobs.values()),
        "mean_work_s": round(mean_work, 3),
        "saturated_window_s": round(window, 1),
        "builds_per_hour": {"actual": round(actual or 0), "ideal": round(ideal or 0),
                            "ratio": round(actual / ideal, 3) if actual and ideal else None},
        "overhead": round(1 - utilisation, 4) if utilisation is not None else None,
        "queue_wait_s": (waits := _queue_waits(store, jobs, by_job)),
        "eta_error": (eta := _eta_errors(submitted, jobs)),
        "wasted_stage_s": round(wasted, 3), "work_s": round(work, 1),
        # For the printed table: pairs of the figures above.
        "table": {"builds_per_hour": [round(actual or 0), round(ideal or 0)],
                  "queue_wait_p50_p99": [waits["all"]["p50"], waits["all"]["p99"]],
                  "eta_finish_p50_p90": [eta["finish"]["p50"], eta["finish"]["p90"]],
                  "eta_start_p50_p90": [eta["start"]["p50"], eta["start"]["p90"]]},
    }


def _queue_waits(store: JobStore, jobs: dict, by_job: dict[str, list[dict]]
                 ) -> dict[str, Any]:
    waits: dict[str, list[float]] = defaultdict(list)
    ready = [j for j in jobs.values() if j.status == Status.READY]
    pipe = store.redis.pipeline(transaction=False)
    for job in ready:
        pipe.hget(store.keys.job(job.job_id), "admitted_at")
    for job, admitted_at in zip(ready, pipe.execute(), strict=True):
        t = job.timestamps
        end = {s["kind"]: s["end"] for s in by_job[job.job_id] if s["outcome"] == "ok"}
        admitted = float(admitted_at) if admitted_at else None
        before = {"starting": admitted, "scaffold": end.get("create"), "code": t.get("scaffold"),
                  "deps": end.get("generate"), "checks": end.get("install")}
        for stage, prior in before.items():
            if prior is not None and stage in t:
                waits[stage].append(max(0.0, t[stage] - prior))
    every = [w for values in waits.values() for w in values]
    return {"all": _pct(every), **{stage: _pct(values) for stage, values in waits.items()}}


def _eta_errors(submitted: list[dict[str, Any]], jobs: dict) -> dict[str, Any]:
    finished = sorted(j.timestamps["ready"] for j in jobs.values() if j.status == Status.READY)
    warm = finished[WARMUP - 1] if len(finished) >= WARMUP else float("inf")
    start_err, finish_err = [], []
    for s in submitted:
        job = jobs.get(s["job_id"])
        if job is None or job.status != Status.READY or s["sent"] < warm:
            continue
        took = job.timestamps["ready"] - s["sent"]
        started = job.timestamps["starting"] - s["sent"]
        finish_err.append(abs(s["eta_finish"] - took) / took)
        start_err.append(abs(s["eta_start"] - started) / took)
    return {"finish": _pct(finish_err), "start": _pct(start_err), "after_first": WARMUP}


def memory(idle: dict[str, float], samples: list[dict[str, float]], redis_before: int,
           redis_after: int, builds: int) -> dict[str, Any]:
    peak = max(samples, key=lambda s: s["rss"]) if samples else idle
    in_flight = max((s["in_flight"] for s in samples), default=0)
    return {"worker_rss_idle_mb": round(idle["rss"] / 2**20, 1),
            "worker_rss_peak_mb": round(peak["rss"] / 2**20, 1),
            "peak_in_flight": in_flight,
            "worker_kb_per_in_flight_build": round((peak["rss"] - idle["rss"]) / 1024
                                                   / max(1, in_flight), 1),
            "redis_kb_per_build": round((redis_after - redis_before) / 1024 / max(1, builds), 1)}
