"""A realistic workload on real `dramatiq actors` worker processes: stages that take as long as
real ones (scaled down) on too few worker threads, so stage messages wait in the queue far
longer than the watchdog's deadline for a running stage. No worker dies or freezes, so every
build must be READY with no re-drive, no stage work run twice and no live sandbox reaped.

The sandbox runtime and generator are simulated (bin/support/bench/sim.py, sim_work.py): the
e2b cloud and the model API are beyond the network boundary. They keep their sandboxes and
work counts in the test's Redis and behave like the remote ones (a provider-side timeout Kiln
must keep extending, cancel checks polled while commands run).
"""

from __future__ import annotations

from bin.support.bench.sim_work import KINDS, WorkLog
from domain.capacity import Capacity
from domain.messages import send_stage, sender_broker
from domain.redis_client import connect
from domain.status import Status
from domain.store import JobStore
from domain.telemetry import Telemetry
from tests.support.waiting import wait_for
from tests.support.workers import WorkerProcesses, worker_env

BUILDS = 36
DEADLINE_S = 4  # the stage time limit (3 s) + the watchdog's grace (1 s)
CAPS = {f"KILN_TIER_CTO_SCALE_{field}": "1000"
        for field in ("CONCURRENT_PER_USER", "CONCURRENT_PER_PROJECT", "DAILY_JOBS")}
SIM = {"KILN_SANDBOX": "bin.support.bench.sim:SimRuntime",
       "KILN_GENERATOR": "bin.support.bench.sim_work:SimGenerator",
       "KILN_SIM_SCALE": "0.015", "KILN_SIM_SEED": "7",  # ~1.4 s of stage work per build
       "KILN_STAGE_TIME_LIMIT_S": "3", "KILN_WATCHDOG_GRACE_S": "1",
       # A sandbox lease well short of the queue waits: only its renewal keeps sandboxes alive.
       "KILN_SANDBOX_LEASE_S": str(3 * DEADLINE_S),
       "KILN_GLOBAL_SANDBOX_CAP": "1000", "KILN_QUEUE_CAP": "1000",
       **CAPS}


def _run(redis_url: str, tmp_path, builds: int, **extra: str):
    store = JobStore(connect(redis_url))
    env = worker_env(redis_url, tmp_path / "sandboxes", **SIM, **extra)
    workers = WorkerProcesses(env, processes=1, threads=2, log_path=tmp_path / "workers.log")
    workers.start()
    try:
        capacity = Capacity(store, global_cap=1000, queue_cap=1000, env=CAPS)
        broker = sender_broker(redis_url)
        project = store.create_project("user-1", "Realistic")["project_id"]
        job_ids = []
        for n in range(builds):  # all admitted at once: their messages share two threads
            decision = capacity.start(project, "user-1", "cto_scale", f"realistic app #{n}")
            job_ids.append(decision.job.job_id)
            for job_id, attempt in decision.admitted:
                send_stage(broker, Status.STARTING, job_id, attempt)
        wait_for(lambda: all(j.terminal for j in store.get_jobs(job_ids)), 120, interval=0.2,
                 message=f"{builds} builds to finish (see {tmp_path / 'workers.log'})")
    finally:
        workers.stop()  # its workers write their last metrics as they exit
    return store, store.get_jobs(job_ids)


def test_builds_waiting_far_past_the_deadline_all_finish_with_no_work_twice(
        r, redis_url, tmp_path):
    store, jobs = _run(redis_url, tmp_path, BUILDS)
    assert [j.status for j in jobs] == [Status.READY] * BUILDS, \
        [(j.job_id, j.error_code, j.error_detail) for j in jobs if j.status != Status.READY]
    work = WorkLog(store.redis, store.prefix)
    once = {f"{kind}|0": 1 for kind in KINDS}
    assert [work.counts(j.job_id) for j in jobs] == [once] * BUILDS  # no stage work twice
    assert [(j.redrives, j.sandbox_replacements, j.redeliveries) for j in jobs] == \
        [(0, 0, 0)] * BUILDS
    snap = Telemetry(store.redis).snapshot()
    assert "watchdog_redrives" not in snap.counters
    assert "sandboxes_reaped" not in snap.counters  # no live sandbox was taken
    # The premise: stage messages waited far longer than a running stage's deadline, and the
    # watchdog looked at those jobs, found them waiting, and left them alone.
    def waited_over(seconds: str) -> float:
        return sum(dict(b)["+Inf"] - dict(b)[seconds] for b, _sum in snap.queue_waits.values())

    assert waited_over("5.0") >= 2 * BUILDS  # past the deadline (4 s)
    assert waited_over("10.0") >= BUILDS // 2  # and far past it
    assert sum(snap.counters.get("watchdog_waiting", {}).values()) > 0


def test_sandboxes_lost_mid_install_are_replaced_and_every_build_finishes(
        r, redis_url, tmp_path):
    """About half the builds lose their sandbox halfway through the install (an e2b timeout, a
    host lost): each gets a new one (created, restored) and its install runs again; nothing
    else runs twice."""
    builds = 8
    store, jobs = _run(redis_url, tmp_path, builds, KILN_SIM_LOSS="0.5")
    assert [j.status for j in jobs] == [Status.READY] * builds, \
        [(j.error_code, j.error_detail) for j in jobs if j.status != Status.READY]
    work = WorkLog(store.redis, store.prefix)
    lost = [j for j in jobs if j.sandbox_replacements]
    assert 0 < len(lost) < builds
    for job in jobs:
        counts = work.counts(job.job_id)
        again = 1 + job.sandbox_replacements
        assert job.sandbox_replacements <= 1
        assert counts == {"create|0": again, "generate|0": 1, "install|0": again, "checks|0": 1}
    snap = Telemetry(store.redis).snapshot()
    assert snap.counters["sandbox_replacements"] == {("deps",): len(lost)}
    assert "watchdog_redrives" not in snap.counters
