"""Status endpoint: GET /api/generation/{id}/status on one uvicorn process (auth, ownership,
one HMGET, the JSON body) against a bare Starlette route doing one HGETALL, same run: 200
clients each polling every 0.5 s, then 50 and 200 concurrent keep-alive clients back to back
(a load client in its own process).

Back to back, each side runs in 2 s slices taken in turn (Kiln, bare, bare, Kiln, ...), and a
side's figures are its slices together (requests over time, percentiles of every latency): on a
shared host a busy moment then falls on both sides instead of on whichever ran during it."""

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

SLICE_S = 2.0


def _load(url: str, clients: int, seconds: float, token: str, interval: float = 0.0,
          server: int = 0, raw: bool = False) -> dict[str, Any]:
    cpu = common.tree_cpu_s(server) if server else 0.0
    out = subprocess.run(
        [sys.executable, "-m", "bin.support.bench.loadgen", url, "--clients", str(clients),
         "--seconds", str(seconds), "--interval", str(interval),
         "--header", f"Authorization: Bearer {token}", *(["--raw"] if raw else [])],
        cwd=common.ROOT, capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise RuntimeError(f"load client failed: {out.stderr.strip()[-500:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if server and result["requests"]:  # server CPU per request: steadier than req/s on a busy host
        result["server_cpu_s"] = common.tree_cpu_s(server) - cpu
        result["server_cpu_ms_per_request"] = round(
            result["server_cpu_s"] * 1000 / result["requests"], 3)
    return result


def _together(slices: list[dict[str, Any]]) -> dict[str, Any]:
    """One side's slices as one run: requests over their summed time, pooled percentiles."""
    requests = sum(s["requests"] for s in slices)
    seconds = sum(s["seconds"] for s in slices)
    cpu_s = sum(s.get("server_cpu_s", 0.0) for s in slices)
    return {"clients": slices[0]["clients"], "interval_s": 0.0, "slices": len(slices),
            "requests": requests, "errors": sum(s["errors"] for s in slices),
            "seconds": round(seconds, 2), "requests_per_s": round(requests / seconds, 1),
            "latency_ms": common.summary_ms([t for s in slices for t in s["latencies_s"]]),
            "slice_requests_per_s": [s["requests_per_s"] for s in slices],
            "server_cpu_ms_per_request": round(cpu_s * 1000 / requests, 3) if requests else None}


def _back_to_back(sides: dict[str, tuple[str, int]], clients: int, seconds: float,
                  token: str) -> dict[str, dict[str, Any]]:
    """Both sides at `clients` back to back, in turns of SLICE_S (see the module docstring)."""
    slices: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    for turn in range(max(1, round(seconds / SLICE_S))):
        for name in (list(sides) if turn % 2 == 0 else list(reversed(sides))):
            time.sleep(1.0)  # a saturating run leaves a backlog: let it drain
            url, pid = sides[name]
            slices[name].append(_load(url, clients, SLICE_S, token, server=pid, raw=True))
    return {name: _together(runs) for name, runs in slices.items()}


def run(url: str, wd: Path, quick: bool) -> dict[str, Any]:
    seconds = 4.0 if quick else 8.0
    store = JobStore(connect(url))
    project = store.create_project(webproc.USER, "status")["project_id"]
    job = store.create_job(project, webproc.USER, "cto_scale", "a todo app",
                           status=Status.CODE)  # a build in progress: the common poll
    env = common.base_env(url, wd)
    out: dict[str, Any] = {"seconds_per_run": seconds, "slice_seconds": SLICE_S}
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
            paced = _load(target, 200, seconds, token, 0.5, pids[target])
            paced.pop("server_cpu_s", None)
            out["paced200"][name] = paced
        # Back to back (closed loop): throughput, and latency = clients / throughput.
        sides = {"kiln": (kiln, pids[kiln]), "bare": (bare, pids[bare])}
        for clients in (50, 200):
            both = _back_to_back(sides, clients, seconds, token)
            out[f"c{clients}"] = {**both, "ratio": round(
                both["kiln"]["requests_per_s"] / both["bare"]["requests_per_s"], 3)}
    out["ratios"] = [out["c50"]["ratio"], out["c200"]["ratio"]]
    out["cpu_ms_per_request"] = [out["c50"][side].get("server_cpu_ms_per_request")
                                 for side in ("kiln", "bare")]
    return out
