"""Idle start latency: POST /api/generation/start on a quiet system, until the job's `starting`
stage is entered (the worker's own timestamp of the transition). Requests are spaced out with
jitter so every worker consumer has backed off to its idle poll first."""

from __future__ import annotations

import random
import time
from typing import Any

from bin.support.bench import common, webproc
from domain.keys import Keys


def idle_starts(procs: common.Processes, env: dict[str, str], count: int) -> dict[str, Any]:
    base = webproc.start(procs, env)
    r = common.client(env["REDIS_URL"])
    keys = Keys()
    latencies = []
    with webproc.api(base) as http:
        project = http.post("/api/projects", json={"name": "idle"}).json()["project_id"]
        for _ in range(count):
            time.sleep(random.uniform(0.4, 0.7))  # consumers back off to their idle poll
            sent = time.time()
            resp = http.post("/api/generation/start",
                             json={"project_id": project, "goal": "a todo app"})
            resp.raise_for_status()
            job = keys.job(resp.json()["job_id"])
            common.wait_for(lambda job=job: r.hget(job, "starting_at"), 10, "starting",
                            interval=0.002)
            latencies.append(float(r.hget(job, "starting_at")) - sent)
    return {"requests": count, "start_to_starting_ms": common.summary_ms(latencies)}
