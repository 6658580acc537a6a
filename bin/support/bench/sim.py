"""A simulated sandbox runtime that behaves like a remote one (e2b) without the cloud:
KILN_SANDBOX=bin.support.bench.sim:SimRuntime. Sandboxes live in Redis, so any worker process
can reconnect to them; each has a provider-side timeout that Kiln must keep extending (as
e2b's), after which it is gone; commands take their simulated time (bin/support/bench/
sim_work.py) and poll their cancel check every 100 ms as the real runtimes do.

`sim install <s>` and `sim checks <s>` are the simulated app's commands: install leaves a
marker that checks requires, next to the generated `app.py`, so a sandbox replaced without its
files or dependencies fails its checks. KILN_SIM_LOSS (0..1, default 0) is the chance that a
build's first sandbox is lost during its install (an e2b timeout, a host lost), to exercise
replacement.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from actors.sandbox.base import CancelCheck, CommandResult, asks_cancel
from actors.sandbox.registry import SandboxRecord, SandboxRegistry
from bin.support.bench import sim_work
from domain.errors import Cancelled, SandboxGone
from domain.keys import Keys
from domain.redis_client import connect_bounded
from domain.settings import Settings

INSTALLED = ".sim/installed"
POLL_S = 0.1  # how often a running command asks whether its job was cancelled


class SimSandbox:
    def __init__(self, runtime: SimRuntime, sandbox_id: str, job_id: str) -> None:
        self.runtime = runtime
        self.id = sandbox_id
        self.job_id = job_id
        self._files = f"{runtime.prefix}:sim:files:{sandbox_id}"

    def write_files(self, files: dict[str, str]) -> None:
        self.runtime.require(self.id)
        if files:
            self.runtime.r.hset(self._files, mapping=files)

    def read_file(self, path: str) -> str:
        self.runtime.require(self.id)
        text = self.runtime.r.hget(self._files, path)
        if text is None:
            raise FileNotFoundError(path)
        return text

    def list_files(self) -> list[str]:
        self.runtime.require(self.id)
        return sorted(self.runtime.r.hkeys(self._files))

    def run(self, command: str, cwd: str = ".", env: dict[str, str] | None = None,
            timeout: float = 60.0, cancel_check: CancelCheck | None = None,
            egress: bool = False) -> CommandResult:
        self.runtime.require(self.id)
        parts = command.split()
        if parts[:1] != ["sim"] or len(parts) != 3 or parts[1] not in ("install", "checks"):
            return CommandResult(0, "")  # anything else is instant and fine
        kind, seconds = parts[1], float(parts[2])
        goal = self.runtime.goal(self.job_id)
        iteration = sim_work.current_iteration()
        lose = (kind == "install" and self.runtime.r.hget(self.runtime.box(self.id), "first")
                and sim_work.chance(kind, goal, iteration) < sim_work.float_env("KILN_SIM_LOSS", 0.0))
        with self.runtime.work.span(self.job_id, kind, iteration) as span:
            started, limit = time.monotonic(), min(seconds, timeout)
            while (elapsed := time.monotonic() - started) < limit:
                time.sleep(min(POLL_S, limit - elapsed))
                if cancel_check is not None and asks_cancel(cancel_check):
                    span["outcome"] = "cancelled"
                    raise Cancelled(f"command cancelled in sandbox {self.id}")
                if lose and elapsed >= seconds / 2:
                    lose = False
                    self.runtime.kill(self.id)  # lost under the command, like an e2b timeout
            if not self.runtime.alive(self.id):
                span["outcome"] = "lost"
                raise SandboxGone(f"sim sandbox {self.id} is gone")
            if seconds > timeout:
                span["outcome"] = "timed_out"
                return CommandResult(-1, "timed out", timed_out=True)
            return self._finish(kind)

    def _finish(self, kind: str) -> CommandResult:
        if kind == "install":
            self.runtime.r.hset(self._files, INSTALLED, "1")
            return CommandResult(0, "installed")
        missing = [p for p in ("app.py", INSTALLED) if not self.runtime.r.hexists(self._files, p)]
        if missing:
            return CommandResult(1, f"FAILED: missing {', '.join(missing)}")
        return CommandResult(0, "ok")

    def start_background(self, command: str, cwd: str = ".",
                         env: dict[str, str] | None = None) -> str:
        self.runtime.require(self.id)
        self.runtime.r.hset(self.runtime.box(self.id), "serving", "1")
        return "sim-serve"

    def preview_port(self) -> int:
        return 8000

    def preview_url(self, port: int) -> str:
        return f"http://{self.id}.sim.invalid:{port}/"

    def probe(self, url: str) -> int:
        if self.runtime.alive(self.id) and self.runtime.r.hget(self.runtime.box(self.id),
                                                                "serving"):
            return 200
        raise ConnectionRefusedError(url)

    def kill(self) -> bool:
        return self.runtime.kill(self.id)


class SimRuntime:
    name = "sim"

    def __init__(self, settings: Settings | None = None,
                 registry: SandboxRegistry | None = None) -> None:
        settings = settings or Settings.from_env()
        self.r = connect_bounded(settings.redis_url, 256)
        self.prefix = settings.redis_prefix
        self.keys = Keys(self.prefix)
        self.registry = registry
        self.work = sim_work.WorkLog(self.r, self.prefix)
        self._live = f"{self.prefix}:sim:boxes"  # ZSET id -> provider-side expiry

    def box(self, sandbox_id: str) -> str:
        return f"{self.prefix}:sim:box:{sandbox_id}"

    def goal(self, job_id: str) -> str:
        return self.r.hget(self.keys.job(job_id), "goal") or job_id

    def alive(self, sandbox_id: str) -> bool:
        expires = self.r.zscore(self._live, sandbox_id)
        return expires is not None and expires > time.time()

    def require(self, sandbox_id: str) -> None:
        if not self.alive(sandbox_id):
            raise SandboxGone(f"sim sandbox {sandbox_id} is gone")

    def create(self, job_id: str, metadata: dict[str, str], timeout_s: int) -> SimSandbox:
        with self.work.span(job_id, "create", sim_work.current_iteration()):
            time.sleep(sim_work.seconds("create", self.goal(job_id)))
        sandbox_id = f"sim-{uuid.uuid4().hex[:16]}"
        # Only a build's first sandbox may be lost (KILN_SIM_LOSS): a replacement is not.
        first = "" if self.r.hexists(self.keys.job(job_id), "sandbox_id") else "1"
        now = time.time()
        if self.registry is not None:  # registered before it exists: a crash leaves a trace
            self.registry.register(SandboxRecord(sandbox_id, job_id, self.name, "sim", now,
                                                 now + timeout_s))
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self.box(sandbox_id), mapping={"job_id": job_id, "first": first,
                                                 "metadata": json.dumps(metadata)})
        pipe.zadd(self._live, {sandbox_id: now + timeout_s})
        pipe.execute()
        return SimSandbox(self, sandbox_id, job_id)

    def connect(self, sandbox_id: str) -> SimSandbox:
        self.require(sandbox_id)
        return SimSandbox(self, sandbox_id, self.r.hget(self.box(sandbox_id), "job_id") or "")

    def extend(self, sandbox_id: str, expires_at: float) -> None:
        """The provider-side timeout (e2b's set_timeout): only a live sandbox can be kept."""
        self.require(sandbox_id)
        self.r.zadd(self._live, {sandbox_id: expires_at}, xx=True)
        if self.registry is not None:
            self.registry.extend(sandbox_id, expires_at)

    def kill(self, sandbox_id: str) -> bool:
        was_alive = self.alive(sandbox_id)
        pipe = self.r.pipeline(transaction=True)
        pipe.zrem(self._live, sandbox_id)
        pipe.delete(self.box(sandbox_id), f"{self.prefix}:sim:files:{sandbox_id}")
        pipe.execute()
        if self.registry is not None:
            self.registry.remove(sandbox_id)
        return was_alive

    def list_live(self) -> list[tuple[str, dict[str, Any]]]:
        now = time.time()
        out = []
        for sandbox_id in self.r.zrangebyscore(self._live, now, "+inf"):
            raw = self.r.hget(self.box(sandbox_id), "metadata")
            out.append((sandbox_id, json.loads(raw) if raw else {}))
        return out
