"""Status endpoint: GET /api/generation/{id}/status on one uvicorn process (auth, ownership,
one HGETALL, the JSON body) against a bare Starlette route doing one HGETALL, same run, at 50
and 200 concurrent keep-alive clients back to back, and 200 clients each polling every 0.5 s
(a load client in its own process)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bin.support.bench import common, webproc
from domain.redis_client import connect
from domain.status import Status
from domain.store import JobStore


def _load(url: str, clients: int, seconds: float, token: str, interval: float = 0.0,
          server: int = 0) -> dict[str, Any]:
    cpu = common.tree_cpu_s(server) if server else 0.0
    out = subprocess.run(
        [sys.executable, "-m", "bin.support.bench.loadgen", url, "--clients", str(clients),
         "--seconds", str(seconds), "--interval", str(interval),
         "--header", f"Authorization: Bearer {token}"],
        cwd=common.ROOT, capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise RuntimeError(f"load client failed: {out.stderr.strip()[-500:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if server and result["requests"]:  # server CPU per request: steadier than req/s on a busy host
        spent = common.tree_cpu_s(server) - cpu
        result["server_cpu_ms_per_request"] = round(spent * 1000 / result["requests"], 3)
    return result


def run(url: str, wd: Path, quick: bool) -> dict[str, Any]:
    seconds = 4.0 if quick else 8.0
    store = JobStore(connect(url))
    project = store.create_project(webproc.USER, "status")["project_id"]
    job = store.create_job(project, webproc.USER, "cto_scale", "a todo app",
                           status=Status.CODE)  # a build in progress: the common poll
    env = common.base_env(url, wd)
    out: dict[str, Any] = {"seconds_per_run": seconds}
    with common.Processes(wd) as procs:
        kiln = webproc.start(procs, env) + f"/api/generation/{job.job_id}/status"
        bare = webproc.start(procs, env, "bin.support.bench.bare_app:app", "bare")
        bare += f"/api/generation/{job.job_id}/status"
        pids = {kiln: procs.children[0][0].pid, bare: procs.children[1][0].pid}
        token = webproc.token()
        _load(kiln, 50, 1.0, token)  # warm both up
        _load(bare, 50, 1.0, token)
        # Paced first (a saturating run leaves a backlog that would skew it): 200 clients
        # polling every 0.5 s, 400 req/s offered: the latency a client sees under load.
        out["paced200"] = {}
        for name, target in (("bare", bare), ("kiln", kiln)):
            time.sleep(1.0)
            out["paced200"][name] = _load(target, 200, seconds, token, 0.5, pids[target])
        # Back to back (closed loop): throughput, and latency = clients / throughput.
        for clients in (50, 200):
            time.sleep(1.0)
            k = _load(kiln, clients, seconds, token, server=pids[kiln])
            time.sleep(1.0)
            b = _load(bare, clients, seconds, token, server=pids[bare])
            out[f"c{clients}"] = {"kiln": k, "bare": b, "ratio": round(
                k["requests_per_s"] / b["requests_per_s"], 3)}
    out["ratios"] = [out["c50"]["ratio"], out["c200"]["ratio"]]
    out["cpu_ms_per_request"] = [out["c50"][side].get("server_cpu_ms_per_request")
                                 for side in ("kiln", "bare")]
    return out
