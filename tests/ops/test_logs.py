"""The debug_id a user sees finds every log line of their job, in the JSON logs of real worker
and web processes; no secret value reaches a log line or a job record."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from domain.status import Status
from tests.ops.conftest import kill_sandboxes
from tests.support.waiting import wait_for
from tests.support.workers import ROOT, WorkerProcesses, worker_env
from web.auth import mint

SECRET_KEY = "sk-test-ops-0123456789abcdefXYZ"
JWT_SECRET = "kiln-ops-test-jwt-secret-0123456789abcdef"
CONTEXT = ("job_id", "stage", "attempt", "debug_id", "user_id")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def stack(redis_url, tmp_path, r):
    """Real processes: `dramatiq actors` and `uvicorn web.app:app`, each logging to a file."""
    env = worker_env(redis_url, tmp_path / "sandboxes", ANTHROPIC_API_KEY=SECRET_KEY,
                     KILN_GENERATOR="tests.support.failing:QuotesItsKey",
                     KILN_JWT_SECRET=JWT_SECRET)
    workers = WorkerProcesses(env, processes=1, threads=2, log_path=tmp_path / "worker.log")
    workers.start()
    port = _free_port()
    web_log = (tmp_path / "web.log").open("ab")
    web = subprocess.Popen([sys.executable, "-m", "uvicorn", "web.app:app", "--port", str(port)],
                           env={**workers.supervisor.children[0].env, **env}, cwd=ROOT,
                           stdout=web_log, stderr=web_log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(url + "/readyz"), 20, message="the web app to be ready")
        yield url, tmp_path
    finally:
        web.terminate()
        web.wait(10)
        web_log.close()
        workers.stop()
        kill_sandboxes(redis_url, tmp_path / "sandboxes")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _lines(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines()


def test_the_debug_id_of_a_failed_build_finds_its_log_lines(stack, store):
    url, logs = stack
    token = mint("user-ops", "partner", JWT_SECRET)
    headers = {"Authorization": f"Bearer {token}"}
    project = httpx.post(f"{url}/api/projects", json={"name": "Ops"}, headers=headers).json()
    started = httpx.post(f"{url}/api/generation/start", headers=headers,
                         json={"project_id": project["project_id"], "goal": "a todo app"})
    assert started.status_code == 201, started.text
    job_id = started.json()["job_id"]
    job = wait_for(lambda: (j := store.get_job(job_id)) and j.terminal and j, 60,
                   message="the build to fail")
    assert job.status == Status.FAILED and job.failed_stage == "code"
    status = httpx.get(f"{url}/api/generation/{job_id}/status", headers=headers).json()
    assert status["debug_id"] == job.debug_id
    # The event stream (token in the query, as a browser sends it) ends at the terminal status.
    events = httpx.get(f"{url}/api/generation/{job_id}/events?access_token={token}", timeout=10)
    assert events.status_code == 200
    wait_for(lambda: any(job.debug_id in line and "job.failed" in line
                         for line in _lines(logs / "worker.log")), 10,
             message="the failure to be logged")

    # Workers: every line that names the job is JSON with the whole job context.
    worker_lines = [line for line in _lines(logs / "worker.log") if job_id in line]
    records = [json.loads(line) for line in worker_lines]
    for record in records:
        assert all(record.get(field) for field in CONTEXT), record
        assert record["job_id"] == job_id and record["debug_id"] == job.debug_id
        assert record["user_id"] == "user-ops"
    found = [json.loads(line) for line in _lines(logs / "worker.log") if job.debug_id in line]
    # At INFO a build logs its unusual steps and its end; stage-by-stage lines are DEBUG.
    assert {r["stage"] for r in found} >= {"starting", "code"}
    failure = next(r for r in found if r["event"] == "job.failed")
    assert failure["stage"] == "code" and failure["attempt"] == 1

    # Web: the start line and the access lines of the job's routes carry the user and the job.
    web = [json.loads(line) for line in _lines(logs / "web.log") if line.startswith("{")]
    start_line = next(r for r in web if r.get("event") == "job_started")
    assert start_line["job_id"] == job_id and start_line["user_id"] == "user-ops"
    access = [r for r in web if f"/api/generation/{job_id}/" in r.get("event", "")]
    assert len(access) >= 2 and all(r["user_id"] == "user-ops" for r in access)
    status_line = next(r for r in access if "/status" in r["event"])
    assert status_line["job_id"] == job_id and status_line["debug_id"] == job.debug_id

    # Secrets: not in any log line, not anywhere in Redis (job record, events, files).
    for name in ("worker.log", "web.log"):
        text = (logs / name).read_text(errors="replace")
        assert SECRET_KEY not in text and token not in text, name
    assert "[redacted]" in (logs / "worker.log").read_text()
    assert SECRET_KEY not in _everything_in(store.redis)


def _everything_in(r) -> str:
    parts = []
    for key in r.scan_iter(count=1000):
        kind = r.type(key)
        if kind == "hash":
            parts.append(json.dumps(r.hgetall(key)))
        elif kind == "stream":
            parts.append(json.dumps(r.xrange(key)))
        elif kind == "string":
            parts.append(r.get(key) or "")
        elif kind == "list":
            parts.append(json.dumps(r.lrange(key, 0, -1)))
        elif kind == "zset":
            parts.append(json.dumps(r.zrange(key, 0, -1)))
        elif kind == "set":
            parts.append(json.dumps(sorted(r.smembers(key))))
    return "\n".join(parts)
