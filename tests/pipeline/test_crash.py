"""Worker processes killed with SIGKILL: redelivery finishes the job, and a stage that keeps
killing its worker ends in `worker_lost` instead of looping forever."""

from __future__ import annotations

import pytest

from actors.sandbox.registry import SandboxRegistry
from domain.status import Status
from tests.support.store_reads import history
from tests.support.waiting import wait_for
from tests.support.workers import WorkerProcesses, worker_env

# A dead worker's messages come back after its heartbeat is older than this; a short value and
# a maintenance roll on every broker command make recovery take seconds in these tests.
FAST_RECOVERY = {"KILN_HEARTBEAT_TIMEOUT_MS": "2000", "KILN_MAINTENANCE_CHANCE": "1000000"}


@pytest.fixture
def workers(request, redis_url, tmp_path, store):
    extra = request.param if hasattr(request, "param") else {}
    procs = WorkerProcesses(worker_env(redis_url, tmp_path / "sandboxes", **FAST_RECOVERY,
                                       **extra), processes=1, threads=2)
    procs.start()
    yield procs
    procs.stop()
    # READY previews outlive their workers; the reaper would get them, tests end first.
    from actors.sandbox import get_runtime
    from domain.settings import Settings

    runtime = get_runtime(Settings(redis_url=redis_url, sandbox_root=tmp_path / "sandboxes"),
                          store.redis)
    for record in SandboxRegistry(store.redis).all():
        runtime.kill(record.sandbox_id)


def _start(store, goal: str) -> str:
    from domain.capacity import Capacity
    from domain.messages import send_stage, sender_broker

    project_id = store.create_project("user-1", "Crash")["project_id"]
    decision = Capacity(store).start(project_id, "user-1", "partner", goal)
    broker = sender_broker(_url(store))
    for job_id, attempt in decision.admitted:
        send_stage(broker, Status.STARTING, job_id, attempt)
    return decision.job.job_id


def _url(store) -> str:
    import os

    return os.environ["REDIS_URL"]


@pytest.mark.parametrize("workers", [{"KILN_GENERATOR": "tests.support.generators:ShortInstall"}],
                         indirect=True)
def test_a_worker_killed_mid_stage_still_gets_its_job_to_ready(workers, store):
    job_id = _start(store, "a todo app")
    wait_for(lambda: store.get_job(job_id).status == Status.DEPS, 60, message="deps")
    killed = workers.kill_worker()
    wait_for(lambda: workers.restarts >= 1, 10, message="the supervisor to restart the CLI")
    job = wait_for(lambda: (j := store.get_job(job_id)) and j.terminal and j, 90,
                   message="the job to finish after redelivery")
    assert job.status == Status.READY, (killed, job.error_detail)
    assert job.redeliveries >= 1  # deps came back to a new worker and was resumed
    statuses = [e["status"] for _, e in history(store, job_id)]
    assert statuses == ["queued", "starting", "scaffold", "code", "deps", "checks", "ready"]


@pytest.mark.parametrize("workers", [{"KILN_GENERATOR": "tests.support.crashing:KillsItsWorker",
                                      "KILN_MAX_DELIVERIES": "2"}], indirect=True)
def test_a_stage_that_keeps_killing_its_worker_ends_in_worker_lost(workers, store):
    job_id = _start(store, "a todo app")
    job = wait_for(lambda: (j := store.get_job(job_id)) and j.terminal and j, 120,
                   message="the crash loop to be stopped")
    assert job.status == Status.FAILED and job.error_code == "worker_lost"
    assert job.failed_stage == "code"
    assert workers.restarts >= 2
    # The job died with its workers, and its capacity slots came back.
    assert store.redis.zcard(store.keys.live_global()) == 0
    assert store.redis.scard(store.keys.live_user("user-1")) == 0
