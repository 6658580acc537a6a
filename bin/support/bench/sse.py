"""SSE fan-out: 1000 subscribers on one web process (the events route), a few per job; the
benchmark moves the jobs through stages with store.transition and measures transition ->
delivery to each subscriber (same host clock), p50/p99."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bin.support.bench import common, webproc
from domain.failures import CANCELLED_MESSAGE
from domain.redis_client import connect
from domain.status import Status
from domain.store import JobStore

STEPS = (Status.CODE, Status.DEPS, Status.CHECKS)


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))


def run(url: str, wd: Path, quick: bool) -> dict[str, Any]:
    _raise_fd_limit()  # inherited by the web process and the client
    subscribers, per_job = (1000, 10)
    store = JobStore(connect(url))
    project = store.create_project(webproc.USER, "sse")["project_id"]
    jobs = [store.create_job(project, webproc.USER, "cto_scale", "a todo app",
                             status=Status.SCAFFOLD).job_id
            for _ in range(subscribers // per_job)]
    env = common.base_env(url, wd)
    sent: dict[tuple[str, str], float] = {}
    with common.Processes(wd) as procs:
        base = webproc.start(procs, env)
        client = subprocess.Popen(
            [sys.executable, "-m", "bin.support.bench.sse_client", base, webproc.token(),
             str(per_job), *jobs], cwd=common.ROOT, env=env, stdout=subprocess.PIPE, text=True)
        try:
            first = client.stdout.readline() if client.stdout else ""
            if not first.startswith("ready"):
                raise RuntimeError(f"SSE client did not get ready: {first!r}")
            time.sleep(0.5)
            gap = 0.01 if quick else 0.005
            for step in STEPS:
                for job_id in jobs:
                    sent[(job_id, step.value)] = time.time()
                    store.transition(job_id, step)
                    time.sleep(gap)  # one transition at a time: latency, not a burst
            for job_id in jobs:  # end every stream
                store.cancel(job_id, CANCELLED_MESSAGE)
            rows = [json.loads(line) for line in client.stdout or () if line.startswith("[")]
            client.wait(30)
        finally:
            if client.poll() is None:
                client.kill()
                client.wait()
    latencies = [t - sent[(job, status)] for job, status, t in rows if (job, status) in sent]
    expected = len(sent) * per_job
    return {"subscribers": subscribers, "jobs": len(jobs), "transitions": len(sent),
            "deliveries": len(latencies), "missing": expected - len(latencies),
            "transition_to_delivery_ms": common.summary_ms(latencies)}
