"""SIGTERM to a worker in the middle of a stage (a deploy, `docker stop`, a scale-down): the
running stage finishes before the process exits, so nothing is lost or run twice."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from domain.capacity import Capacity
from domain.messages import send_stage, sender_broker
from domain.status import Status
from domain.telemetry import Telemetry
from tests.ops.conftest import kill_sandboxes
from tests.support.store_reads import history
from tests.support.waiting import pid_alive, wait_for
from tests.support.workers import WorkerProcesses, worker_env

PIPELINE = ["queued", "starting", "scaffold", "code", "deps", "checks", "ready"]


def _cli_master(workers: WorkerProcesses) -> int:
    """The `dramatiq` CLI's own pid (the session leader may be a shell that redirects logs)."""
    session = workers.master_pid
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        argv = cmdline.split(b"\0")
        if int(stat[3]) == session and argv[1:3] == [b"-m", b"dramatiq"] and int(stat[1]) in (
                session, os.getpid()):
            return int(entry.name)
    raise AssertionError("no dramatiq CLI found")


def test_sigterm_mid_stage_lets_the_stage_finish_and_the_job_reach_ready(redis_url, tmp_path,
                                                                          store):
    exits: list[str] = []
    workers = WorkerProcesses(worker_env(redis_url, tmp_path / "sandboxes",
                                         KILN_GENERATOR="tests.support.generators:ShortInstall"),
                              processes=1, threads=2, log_path=tmp_path / "worker.log")
    workers.supervisor.on_event = exits.append
    workers.start()
    try:
        project_id = store.create_project("user-1", "Deploy")["project_id"]
        decision = Capacity(store).start(project_id, "user-1", "partner", "a todo app")
        job_id = decision.job.job_id
        for admitted, attempt in decision.admitted:
            send_stage(sender_broker(redis_url), Status.STARTING, admitted, attempt)
        wait_for(lambda: store.get_job(job_id).status == Status.DEPS, 60, message="deps")

        master = _cli_master(workers)
        os.kill(master, signal.SIGTERM)  # what `docker stop` sends to the container's PID 1
        wait_for(lambda: not pid_alive(master), 30, message="the CLI to exit after the stage")
        # It waited for the install: deps had finished (and sent checks on) before it exited.
        runs = Telemetry(store.redis, store.prefix).snapshot().counters["stage_runs"]
        assert runs.get(("deps", "done")) == 1 and ("checks", "done") not in runs
        wait_for(lambda: exits, 10, message="the supervisor to restart the CLI")
        assert exits[0].startswith("workers exited (0)"), exits  # a clean exit, not a kill

        job = wait_for(lambda: (j := store.get_job(job_id)) and j.terminal and j, 60,
                       message="the restarted workers to finish the job")
    finally:
        workers.stop()
        kill_sandboxes(redis_url, tmp_path / "sandboxes")
    assert job.status == Status.READY, job.error_detail
    assert job.redeliveries == 0  # finished by the worker that started it, not run twice
    assert [e["status"] for _, e in history(store, job_id)] == PIPELINE
