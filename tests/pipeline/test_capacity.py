"""Capacity with real workers: caps hold while builds run, boost order, positions, quotas."""

from __future__ import annotations

import threading

from actors import housekeeping
from domain.capacity import Capacity
from domain.clock import next_utc_midnight
from domain.messages import send_stage
from domain.status import STAGES, Status
from tests.support.clock import FixedClock
from tests.support.store_reads import history
from tests.support.waiting import join_all, wait_for


def _running(store, job_ids):
    return sum(1 for j in store.get_jobs(job_ids) if j.status in STAGES)


def test_a_bootstrapper_never_has_more_than_two_builds_running(pipeline):
    store = pipeline.svc.store
    jobs = [pipeline.start(f"a notes app number {n}", tier="bootstrapper", user="boot")
            for n in range(5)]
    peak = {"running": 0, "live": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak["running"] = max(peak["running"], _running(store, jobs))
            peak["live"] = max(peak["live"], store.redis.scard(store.keys.live_user("boot")))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        results = [pipeline.wait_terminal(j, timeout=90) for j in jobs]
    finally:
        done.set()
        join_all([sampler], 10, "the sampler")
    assert [r.status for r in results] == [Status.READY] * 5
    assert peak["running"] == 2 and peak["live"] == 2
    assert store.redis.scard(store.keys.live_user("boot")) == 0  # every slot came back


def test_boost_order_and_reported_positions_match_the_actual_start_order(pipeline):
    store = pipeline.svc.store
    pipeline.use(capacity=Capacity(store, global_cap=1))
    first = pipeline.start("a blocker app", tier="bootstrapper", user="u0")
    waiting = {name: pipeline.start(f"a {name} app", tier=tier, user=name)
               for name, tier in (("b1", "bootstrapper"), ("b2", "bootstrapper"),
                                  ("b3", "bootstrapper"), ("p1", "partner"))}
    positions = {name: pipeline.svc.capacity.position(job_id)
                 for name, job_id in waiting.items()}
    # The partner job jumps ahead of up to two waiting bootstrapper jobs.
    assert positions == {"b1": 1, "p1": 2, "b2": 3, "b3": 4}
    finished = [pipeline.wait_terminal(j, timeout=90) for j in [first, *waiting.values()]]
    assert all(j.status == Status.READY for j in finished)
    started = sorted(waiting, key=lambda name: store.get_job(waiting[name]).timestamps["starting"])
    assert started == sorted(positions, key=positions.get)


def test_an_over_quota_start_is_scheduled_and_runs_after_midnight(pipeline):
    store = pipeline.svc.store
    clock = FixedClock(next_utc_midnight(store.clock.now()) - 60)  # one minute to midnight
    capacity = Capacity(store, clock=clock, env={"KILN_TIER_BOOTSTRAPPER_DAILY_JOBS": "1"})
    pipeline.use(capacity=capacity)
    project_id = store.create_project("quota", "Quota")["project_id"]
    first = capacity.start(project_id, "quota", "bootstrapper", "a first app")
    second = capacity.start(project_id, "quota", "bootstrapper", "a second app")
    for job_id, attempt in first.admitted + second.admitted:
        send_stage(pipeline.svc.broker, Status.STARTING, job_id, attempt)
    assert second.job.status == Status.SCHEDULED
    assert second.job.scheduled_for == next_utc_midnight(clock.now())
    assert pipeline.wait_terminal(first.job.job_id).status == Status.READY
    assert housekeeping.release_scheduled(pipeline.svc) == 0  # not yet midnight
    assert store.get_job(second.job.job_id).status == Status.SCHEDULED
    clock.advance(61)
    assert housekeeping.release_scheduled(pipeline.svc) == 1
    done = pipeline.wait_terminal(second.job.job_id)
    assert done.status == Status.READY
    statuses = [e["status"] for _, e in history(store, second.job.job_id)]
    assert statuses[:3] == ["scheduled", "queued", "starting"]
    assert capacity.usage("quota", "bootstrapper")["jobs_used"] == 1  # the new day's one job


def test_a_freed_slot_admits_the_next_job_without_waiting_for_housekeeping(pipeline):
    store = pipeline.svc.store
    pipeline.use(capacity=Capacity(store, global_cap=1))
    first = pipeline.start("a first app")
    second = pipeline.start("a second app")
    assert pipeline.svc.capacity.position(second) == 1
    assert pipeline.wait_terminal(first).status == Status.READY
    # The first job's READY teardown admitted the second at once.
    wait_for(lambda: store.get_job(second).status != Status.QUEUED, 2,
             message="the next job to be admitted")
    assert pipeline.wait_terminal(second).status == Status.READY
