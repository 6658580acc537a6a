"""Status endpoint: GET /api/generation/{id}/status on one uvicorn process (auth, ownership,
one HGETALL, the JSON body) against a bare Starlette route doing one HGETALL, same run, at 50
and 200 concurrent keep-alive clients (a load client in its own process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bin.support.bench import common, webproc
from domain.redis_client import connect
from domain.status import Status
from domain.store import JobStore


def _load(url: str, clients: int, seconds: float, token: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bin.support.bench.loadgen", url, "--clients", str(clients),
         "--seconds", str(seconds), "--header", f"Authorization: Bearer {token}"],
        cwd=common.ROOT, capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise RuntimeError(f"load client failed: {out.stderr.strip()[-500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


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
        token = webproc.token()
        for clients in (50, 200):
            _load(kiln, clients, 1.0, token)  # warm both up
            _load(bare, clients, 1.0, token)
            k, b = _load(kiln, clients, seconds, token), _load(bare, clients, seconds, token)
            out[f"c{clients}"] = {"kiln": k, "bare": b, "ratio": round(
                k["requests_per_s"] / b["requests_per_s"], 3)}
    out["ratios"] = [out["c50"]["ratio"], out["c200"]["ratio"]]
    return out
