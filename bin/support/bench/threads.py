"""Threads: how far `--threads` scales for stages that wait on a remote (e2b, the model API).

One worker process per level (64, 256, 512 threads); as many builds as threads, each held in
its install for a fixed time by the simulated runtime (bin/support/bench/sim.py: a command
that waits and polls its cancel check every 100 ms, as e2b's does). While every thread waits:
the process's memory and threads, its CPU and the Redis commands per second it causes. Then
cancels (as POST .../cancel does: store.cancel) until the build's sandbox is gone, and the
time until the rest are READY against the ideal (the simulated work alone).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from bin.support.bench import common
from domain.capacity import Capacity
from domain.failures import CANCELLED_MESSAGE
from domain.messages import send_stage, sender_broker
from domain.redis_client import connect
from domain.status import Status
from domain.store import JobStore

LEVELS, QUICK_LEVELS = (64, 256, 512), (64, 256)
WAIT_S = 20.0  # each build's install: long enough to measure while all of them wait
OTHER = {"create": 0.01, "generate": 0.05, "checks": 0.05}
CAPS = {f"KILN_TIER_CTO_SCALE_{f}": common.HUGE
        for f in ("CONCURRENT_PER_USER", "CONCURRENT_PER_PROJECT", "DAILY_JOBS")}


def _commands(store: JobStore) -> int:
    return sum(common.commandstats(store.redis).values())


def _sandbox_gone(store: JobStore, sandbox_id: str) -> bool:
    return store.redis.zscore(f"{store.prefix}:sim:boxes", sandbox_id) is None


def level(url: str, wd: Path, threads: int) -> dict[str, Any]:
    common.fresh(url)
    seconds = ",".join(f"{k}={v}" for k, v in (OTHER | {"install": WAIT_S}).items())
    env = common.base_env(url, wd, KILN_SANDBOX="bin.support.bench.sim:SimRuntime",
                          KILN_GENERATOR="bin.support.bench.sim_work:SimGenerator",
                          KILN_SIM_SECONDS=seconds, KILN_GLOBAL_SANDBOX_CAP=str(2 * threads),
                          KILN_QUEUE_CAP=common.HUGE, **CAPS)
    store = JobStore(connect(url))
    capacity = Capacity(store, global_cap=2 * threads, queue_cap=10**6, env=CAPS)
    broker = sender_broker(url)
    out: dict[str, Any] = {"threads": threads}
    with common.Processes(wd) as procs:
        procs.workers("actors", env, 1, threads)
        master = procs.children[-1][0].pid
        time.sleep(1.0)
        rss, count = common.tree_rss_bytes(master)
        out["idle"] = {"rss_mb": round(rss / 2**20, 1), "threads": count}
        project = store.create_project("bench", "threads")["project_id"]
        started = time.time()
        ids = []
        for n in range(threads):
            decision = capacity.start(project, "bench", "cto_scale", f"threads build {n}")
            ids.append(decision.job.job_id)
            for job_id, attempt in decision.admitted:
                send_stage(broker, Status.STARTING, job_id, attempt)
        out["submitted_after_s"] = round(time.time() - started, 2)
        common.wait_for(lambda: sum(j.status == Status.DEPS for j in store.get_jobs(ids))
                        == threads, 60, f"{threads} builds to wait in their install",
                        interval=0.2)
        out["all_waiting_after_s"] = round(time.time() - started, 2)
        cpu, calls, t0 = common.tree_cpu_s(master), _commands(store), time.perf_counter()
        time.sleep(5.0)  # every thread waits on its remote: what does that cost?
        span = time.perf_counter() - t0
        rss, count = common.tree_rss_bytes(master)
        out["waiting"] = {
            "rss_mb": round(rss / 2**20, 1), "threads": count,
            "kb_per_waiting_stage": round((rss / 2**20 - out["idle"]["rss_mb"]) * 1024
                                          / threads, 1),
            "worker_cpu_pct": round(100 * (common.tree_cpu_s(master) - cpu) / span, 1),
            "redis_commands_per_s": round((_commands(store) - calls) / span)}
        waiting = out["waiting"]
        out["rss_pair"] = [waiting["rss_mb"], waiting["kb_per_waiting_stage"]]
        out["cost_pair"] = [waiting["worker_cpu_pct"], waiting["redis_commands_per_s"]]
        out["cancel_to_gone_ms"] = _cancels(store, ids, max(8, threads // 16))
        common.wait_for(lambda: all(j.terminal for j in store.get_jobs(ids)), 120,
                        "the other builds to finish", interval=0.2)
        finished = max(j.updated_at for j in store.get_jobs(ids))
        ideal = WAIT_S + sum(OTHER.values())
        out["makespan_s"] = round(finished - started, 2)
        # Every build waits WAIT_S on one thread, all at once: ideally done in `ideal`. What
        # exceeds it is getting `threads` builds into their wait (all_waiting_after_s).
        out["builds_per_s"] = [round(threads / (finished - started), 1),
                               round(threads / ideal, 1)]
        out["throughput_ratio"] = round(ideal / (finished - started), 3)
        out["failed_not_cancelled"] = sum(
            1 for j in store.get_jobs(ids) if j.status == Status.FAILED and not j.cancelled)
    return out


def _cancels(store: JobStore, ids: list[str], samples: int) -> dict[str, Any]:
    latencies = []
    for job_id in random.Random(1).sample(ids, samples):
        job = store.get_job(job_id)
        assert job is not None and job.sandbox_id
        t0 = time.perf_counter()
        if not store.cancel(job_id, CANCELLED_MESSAGE).ok:
            continue  # it finished first (a slow run): nothing to cancel
        common.wait_for(lambda sid=job.sandbox_id: _sandbox_gone(store, sid), 10,
                        "the cancelled build's sandbox to go", interval=0.002)
        latencies.append(time.perf_counter() - t0)
    return common.summary_ms(latencies)


def run(url: str, wd: Path, quick: bool, levels: tuple[int, ...] | None = None
        ) -> dict[str, Any]:
    results = {}
    for threads in levels or (QUICK_LEVELS if quick else LEVELS):
        sub = wd / f"t{threads}"
        sub.mkdir()
        try:
            results[str(threads)] = level(url, sub, threads)
        except Exception as exc:  # one level's failure must not lose the others
            results[str(threads)] = {"error": f"{type(exc).__name__}: {exc}"}
    return {"levels": results, "wait_s": WAIT_S}
