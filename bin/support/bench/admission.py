"""Admission with 10,000 queued jobs: POST /api/generation/start latency (one web process)
with an empty queue against the same with 10,000 jobs waiting behind a full global cap; and
`Capacity.admit()` with 1,000 then 10,000 jobs of one user waiting behind that user's own cap
while the global cap has room, so every call walks the queue's head (the bounded scan should
cost the same at both depths)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bin.support.bench import common, webproc
from domain.capacity import Capacity
from domain.failures import CANCELLED_MESSAGE
from domain.redis_client import connect
from domain.store import JobStore

GLOBAL_CAP = 20
QUEUED = 10_000
USERS = 100  # the backlog spread over users, each at its own concurrency cap


def _starts(http: Any, project: str, n: int, store: JobStore, cancel: bool) -> list[float]:
    latencies = []
    for _ in range(n):
        resp = http.post("/api/generation/start", json={"project_id": project, "goal": "app"})
        resp.raise_for_status()
        latencies.append(resp.elapsed.total_seconds())
        if cancel:  # keep the queue empty and the cap free (not measured)
            store.cancel(resp.json()["job_id"], CANCELLED_MESSAGE)
    return latencies


def _admit_scan(url: str, samples: int) -> dict[str, Any]:
    store = JobStore(connect(url), prefix="bench-scan")  # its own keys, no web process
    capacity = Capacity(store, global_cap=GLOBAL_CAP, queue_cap=2 * QUEUED,
                        env={"KILN_TIER_CTO_SCALE_DAILY_JOBS": common.HUGE})
    project = store.create_project("hog", "scan")["project_id"]
    timed: dict[int, list[float]] = {}
    for depth in (QUEUED // 10, QUEUED):
        while capacity.queue_depth() < depth:  # the first few are admitted up to its caps
            capacity.start(project, "hog", "cto_scale", "app")
        timed[depth] = []
        for _ in range(samples):
            began = time.perf_counter()
            capacity.admit()
            timed[depth].append(time.perf_counter() - began)
    small, large = common.summary_ms(timed[QUEUED // 10]), common.summary_ms(timed[QUEUED])
    return {"admit_1k_ms": small, "admit_10k_ms": large,
            "admit_p50_ratio": round(large["p50"] / small["p50"], 2) if small["p50"] else None}


def run(url: str, wd: Path, quick: bool) -> dict[str, Any]:
    samples = 100 if quick else 300
    limits = {"KILN_GLOBAL_SANDBOX_CAP": str(GLOBAL_CAP), "KILN_QUEUE_CAP": str(2 * QUEUED)}
    limits |= {f"KILN_TIER_CTO_SCALE_{f}": common.HUGE for f in ("DAILY_JOBS",)}
    env = common.base_env(url, wd, **limits)
    store = JobStore(connect(url))
    capacity = Capacity(store, global_cap=GLOBAL_CAP, queue_cap=2 * QUEUED, env=limits)
    with common.Processes(wd) as procs:  # no workers: admitted jobs keep their slots
        base = webproc.start(procs, env)
        with webproc.api(base) as http:
            project = http.post("/api/projects", json={"name": "adm"}).json()["project_id"]
            _starts(http, project, 20, store, cancel=True)  # warm-up
            empty = _starts(http, project, samples, store, cancel=True)
            others = [store.create_project(f"user-{i}", "backlog")["project_id"]
                      for i in range(USERS)]
            for i in range(QUEUED + GLOBAL_CAP):
                capacity.start(others[i % USERS], f"user-{i % USERS}", "cto_scale", "app")
            depth = capacity.queue_depth()
            full = _starts(http, project, samples, store, cancel=False)
    e, f = common.summary_ms(empty), common.summary_ms(full)
    return {"samples": samples, "queued": depth, "global_cap": GLOBAL_CAP,
            "empty_queue_ms": e, "queued_10k_ms": f,
            "p99_ratio": round(f["p99"] / e["p99"], 2) if e["p99"] else None,
            **_admit_scan(url, samples)}
