"""Realistic: a few hundred builds whose stages take as long as real ones (scaled), arriving
faster than the workers can build them, on several real worker processes.

The simulated runtime and generator (bin/support/bench/sim.py, sim_work.py) stand in for e2b
and the model API; Kiln itself is real (stage actors, scripts, admission, housekeeping). Every
time constant of the watchdog is scaled with the work, so queue waits relate to its deadline
as they would in production. Builds arrive as a Poisson stream at `load` x the workers'
capacity (threads / mean work per build); the admission cap is twice the threads, so stage
messages queue behind busy threads, as at peak. Figures: realistic_figures.py.
"""

from __future__ import annotations

import math
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

from bin.support.bench import common, realistic_figures, sim_work
from domain.capacity import Capacity
from domain.messages import send_stage, sender_broker
from domain.redis_client import connect
from domain.status import Status
from domain.store import JobStore

FULL = {"builds": 300, "processes": 4, "threads": 8, "scale": 0.05, "load": 1.2}
QUICK = {"builds": 120, "processes": 2, "threads": 8, "scale": 0.03, "load": 1.2}
CAPS = {f"KILN_TIER_CTO_SCALE_{f}": common.HUGE
        for f in ("CONCURRENT_PER_USER", "CONCURRENT_PER_PROJECT", "DAILY_JOBS")}


def _env(url: str, wd: Path, cfg: dict[str, Any], cap: int) -> dict[str, str]:
    scale = cfg["scale"]
    return common.base_env(
        url, wd, KILN_SANDBOX="bin.support.bench.sim:SimRuntime",
        KILN_GENERATOR="bin.support.bench.sim_work:SimGenerator",
        KILN_SIM_SCALE=str(scale), KILN_SIM_SEED="1",
        # The watchdog's clock scaled with the work: 300 s limit + 60 s grace in production.
        KILN_STAGE_TIME_LIMIT_S=str(max(2, math.ceil(300 * scale))),
        KILN_WATCHDOG_GRACE_S=str(max(1, math.ceil(60 * scale))),
        KILN_GLOBAL_SANDBOX_CAP=str(cap), KILN_QUEUE_CAP=common.HUGE, **CAPS)


class Monitor(threading.Thread):
    """Samples worker memory, builds in flight and the admission queue every 0.25 s."""

    def __init__(self, store: JobStore, master: int) -> None:
        super().__init__(daemon=True)
        self.store, self.master = store, master
        self.samples: list[dict[str, float]] = []
        self.done = threading.Event()

    def sample(self) -> dict[str, float]:
        rss, threads = common.tree_rss_bytes(self.master)
        r, keys = self.store.redis, self.store.keys
        return {"t": time.time(), "rss": rss, "threads": threads,
                "in_flight": r.zcard(keys.live_global()), "queued": r.zcard(keys.queue())}

    def run(self) -> None:
        while not self.done.wait(0.25):
            self.samples.append(self.sample())


def _submit(store: JobStore, capacity: Capacity, url: str, cfg: dict[str, Any],
            rate: float) -> list[dict[str, Any]]:
    """Start builds as the web app does, at Poisson arrivals; note what each was promised."""
    broker, rng = sender_broker(url), random.Random(1)
    project = store.create_project("bench", "realistic")["project_id"]
    submitted, due = [], time.time()
    for n in range(cfg["builds"]):
        time.sleep(max(0.0, due - time.time()))
        due += rng.expovariate(rate)
        sent = time.time()
        decision = capacity.start(project, "bench", "cto_scale", f"realistic build {n}")
        job_id = decision.job.job_id
        eta = capacity.eta_seconds(job_id) or 0.0  # what GET .../status says right now
        submitted.append({"job_id": job_id, "sent": sent, "eta_start": eta,
                          "eta_finish": eta + capacity.average_build_s()})
        for admitted, attempt in decision.admitted:
            send_stage(broker, Status.STARTING, admitted, attempt)
    return submitted


def run(url: str, wd: Path, quick: bool, overrides: dict[str, Any] | None = None
        ) -> dict[str, Any]:
    cfg = dict(QUICK if quick else FULL) | {k: v for k, v in (overrides or {}).items() if v}
    threads = cfg["processes"] * cfg["threads"]
    cap = 2 * threads
    env = _env(url, wd, cfg, cap)
    for key in ("KILN_SIM_SCALE", "KILN_SIM_SEED"):  # the mean work, as the workers draw it
        os.environ[key] = env[key]
    mean_work = sum(sim_work.mean_seconds(kind) for kind in sim_work.KINDS)
    rate = cfg["load"] * threads / mean_work
    store = JobStore(connect(url))
    capacity = Capacity(store, global_cap=cap, queue_cap=10**6, env=CAPS)
    with common.Processes(wd) as procs:
        procs.workers("actors", env, cfg["processes"], cfg["threads"])
        monitor = Monitor(store, procs.children[-1][0].pid)
        idle = monitor.sample()
        redis_before = int(store.redis.info("memory")["used_memory"])
        monitor.start()
        started = time.time()
        submitted = _submit(store, capacity, url, cfg, rate)
        ids = [s["job_id"] for s in submitted]
        common.wait_for(lambda: all(j.terminal for j in store.get_jobs(ids)),
                        30 + 20 * cfg["builds"] * mean_work / threads, "every build to finish",
                        interval=0.5)
        elapsed = time.time() - started
        monitor.done.set()
        monitor.join()
        redis_after = int(store.redis.info("memory")["used_memory"])
    figures = realistic_figures.compute(store, submitted, monitor.samples, threads)
    return {"config": cfg | {"threads_total": threads, "admission_cap": cap,
                             "arrival_rate_per_s": round(rate, 3),
                             "mean_work_s": round(mean_work, 3)},
            "seconds": round(elapsed, 1), **figures,
            "redrive_pair": [figures["redrives"], figures["replacements"]],
            "memory": (mem := realistic_figures.memory(idle, monitor.samples, redis_before,
                                                       redis_after, len(ids))),
            "memory_pair": [mem["worker_kb_per_in_flight_build"], mem["redis_kb_per_build"]]}
