"""Figures of one chaos run, for the terminal summary and the README."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from domain.job import Job
from domain.status import Status
from domain.store import JobStore
from tests.chaos.cluster import ChaosCluster
from tests.chaos.driver import RunLog
from tests.chaos.plan import ChaosPlan


def figures(plan: ChaosPlan, log: RunLog, cluster: ChaosCluster, jobs: list[Job],
            store: JobStore) -> dict[str, object]:
    failed = Counter(j.error_code or "unknown" for j in jobs if j.status == Status.FAILED)
    redrives = sum(int(store.redis.hget(store.keys.job(j.job_id), "redrives") or 0)
                   for j in jobs)
    builds = sorted(j.updated_at - j.timestamps.get("starting", j.created_at)
                    for j in jobs if j.status == Status.READY)
    return {
        "jobs": len(jobs), "ready": sum(j.status == Status.READY for j in jobs),
        "failed": dict(failed), "cancel_requests_applied": log.cancels,
        "starts_refused_queue_full": log.queue_full,
        "worker_kills": cluster.kills, "worker_freezes": cluster.freezes,
        "cli_restarts": cluster.cli_restarts,
        "redis_restarts": cluster.redis_restarts, "redis_down_s": round(log.redis_down_s, 2),
        "jobs_redelivered": sum(j.redeliveries > 0 for j in jobs),
        "redeliveries": sum(j.redeliveries for j in jobs), "watchdog_redrives": redrives,
        "build_s_p50": round(builds[len(builds) // 2], 2) if builds else None,
        "build_s_max": round(builds[-1], 2) if builds else None,
        "chaos_s": round(log.chaos_s, 1), "total_s": round(log.total_s, 1),
        "worker_clis": plan.worker_clis, "threads": plan.threads,
        "global_cap": plan.global_cap, "cores": os.cpu_count(),
    }


def write(path: Path, data: dict[str, object]) -> str:
    path.write_text(json.dumps(data, indent=2) + "\n")
    return json.dumps(data)
