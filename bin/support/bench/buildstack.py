"""A whole local Kiln for the cancel and end-to-end benchmarks: real workers (local sandbox),
one web process, and an HTTP client signed in as the benchmark's user."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from actors.sandbox import get_runtime
from actors.sandbox.registry import SandboxRegistry
from bin.support.bench import common, webproc
from domain.job import Job
from domain.redis_client import connect
from domain.settings import Settings
from domain.store import JobStore


@dataclass
class Stack:
    base: str
    http: httpx.Client
    store: JobStore
    project_id: str

    def start(self, goal: str = "a todo app with due dates") -> tuple[str, float]:
        """POST start; returns the job id and the wall time just before the request."""
        sent = time.time()
        resp = self.http.post("/api/generation/start",
                              json={"project_id": self.project_id, "goal": goal})
        resp.raise_for_status()
        return resp.json()["job_id"], sent

    def job(self, job_id: str) -> Job:
        job = self.store.get_job(job_id)
        assert job is not None
        return job

    def wait(self, job_id: str, done: object, timeout: float = 60, interval: float = 0.01
             ) -> Job:
        common.wait_for(lambda: done(self.job(job_id)), timeout, f"job {job_id}",
                        interval=interval)
        return self.job(job_id)


@contextlib.contextmanager
def stack(url: str, wd: Path, processes: int = 1, threads: int = 4,
          **env_extra: str) -> Iterator[Stack]:
    env = common.base_env(url, wd, **common.UNCAPPED, **env_extra)
    with common.Processes(wd) as procs:
        procs.workers("actors", env, processes, threads)
        base = webproc.start(procs, env)
        store = JobStore(connect(url))
        try:
            with webproc.api(base) as http:
                project = http.post("/api/projects", json={"name": "bench"}).json()["project_id"]
                yield Stack(base, http, store, project)
        finally:
            _stop_sandboxes(store, env)


def _stop_sandboxes(store: JobStore, env: dict[str, str]) -> None:
    """READY previews outlive the workers that built them: stop what this benchmark started."""
    runtime = get_runtime(dataclasses.replace(Settings.from_env(), redis_url=env["REDIS_URL"],
                                              sandbox_root=Path(env["KILN_SANDBOX_ROOT"])),
                          store.redis)
    for record in SandboxRegistry(store.redis).all():
        runtime.kill(record.sandbox_id)
