"""The job store against a real Redis: every (from, to) pair, a property test, races."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.redis_client import connect
from domain.status import TRANSITIONS, Status
from domain.store import JobStore
from tests.support.store_reads import cancel_flag, history
from tests.support.waiting import join_all


def _job_at(store: JobStore, project: dict, status: Status):
    return store.create_job(project["project_id"], "user-1", "partner", "a todo app", status=status)


@pytest.mark.parametrize(("src", "dst"), list(itertools.product(Status, Status)),
                         ids=lambda s: s.value)
def test_every_pair(store, project, src, dst):
    job = _job_at(store, project, src)
    before = store.redis.hgetall(store.keys.job(job.job_id))
    events_before = history(store, job.job_id)
    result = store.transition(job.job_id, dst, expected=src)
    if dst in TRANSITIONS[src]:
        assert result.ok and result.previous == src
        assert store.get_job(job.job_id).status == dst
        events = history(store, job.job_id)
        assert len(events) == len(events_before) + 1
        assert events[-1][1]["status"] == dst.value and events[-1][1]["from"] == src.value
    else:
        assert not result.ok and result.reason == "illegal"
        assert store.redis.hgetall(store.keys.job(job.job_id)) == before
        assert history(store, job.job_id) == events_before


def test_expected_status_mismatch_changes_nothing(store, project):
    job = _job_at(store, project, Status.CODE)
    result = store.transition(job.job_id, Status.DEPS, expected=Status.SCAFFOLD)
    assert not result.ok and result.reason == "conflict" and result.previous == Status.CODE
    assert store.get_job(job.job_id).status == Status.CODE


def test_missing_job(store):
    assert store.transition("nope", Status.FAILED).reason == "missing"


def test_failed_records_stage_and_frees_indexes(store, project):
    job = _job_at(store, project, Status.DEPS)
    store.redis.zadd(store.keys.live_global(), {job.job_id: 1})
    store.redis.sadd(store.keys.live_user("user-1"), job.job_id)
    assert store.transition(job.job_id, Status.FAILED, error_code="stage_error").ok
    after = store.get_job(job.job_id)
    assert after.failed_stage == "deps" and after.error_code == "stage_error"
    assert store.redis.zscore(store.keys.live_global(), job.job_id) is None
    assert not store.redis.sismember(store.keys.live_user("user-1"), job.job_id)
    assert store.redis.zscore(store.keys.failed(), job.job_id) is not None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(attempts=st.lists(st.tuples(st.sampled_from(list(Status)), st.booleans()), max_size=25))
def test_random_sequences_never_leave_terminal(store, project, attempts):
    job = _job_at(store, project, Status.QUEUED)
    applied = []
    current = Status.QUEUED
    for target, with_expected in attempts:
        result = store.transition(job.job_id, target,
                                  expected=current if with_expected else None)
        legal = target in TRANSITIONS[current]
        assert result.ok == legal
        if result.ok:
            applied.append((current.value, target.value))
            current = target
    assert store.get_job(job.job_id).status == current
    events = [(e["from"], e["status"]) for _, e in history(store, job.job_id)][1:]
    assert events == applied


def test_threads_race_one_winner_per_round(store, project):
    rounds = 1000
    jobs = [_job_at(store, project, Status.QUEUED).job_id for _ in range(rounds)]
    wins = [0] * rounds
    barrier = threading.Barrier(8, timeout=30)
    targets = [Status.STARTING, Status.FAILED] * 4

    def worker(index: int) -> None:
        client = connect(os.environ["REDIS_URL"])
        own = JobStore(client)
        barrier.wait()
        for n, job_id in enumerate(jobs):
            if own.transition(job_id, targets[index], expected=Status.QUEUED).ok:
                wins[n] += 1  # one writer per list slot can win, so no lock is needed to count
        client.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    join_all(threads, 120, "the racing threads")
    assert wins == [1] * rounds
    for job_id in jobs:
        events = history(store, job_id)
        assert len(events) == 2  # created + exactly one transition
        assert events[1][1]["status"] == store.get_job(job_id).status.value


def _process_worker(url: str, jobs: list[str], target: str, out) -> None:
    client = connect(url)
    own = JobStore(client)
    won = [n for n, job_id in enumerate(jobs)
           if own.transition(job_id, Status(target), expected=Status.QUEUED).ok]
    out.put(won)


def test_processes_race_one_winner_per_round(store, project):
    rounds = 1000
    jobs = [_job_at(store, project, Status.QUEUED).job_id for _ in range(rounds)]
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    targets = ["starting", "failed", "starting", "failed"]
    procs = [ctx.Process(target=_process_worker, args=(os.environ["REDIS_URL"], jobs, t, out))
             for t in targets]
    for p in procs:
        p.start()
    won = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    counts = [0] * rounds
    for w in won:
        for n in w:
            counts[n] += 1
    assert counts == [1] * rounds
    assert all(len(history(store, j)) == 2 for j in jobs)


def test_concurrent_ready_assignments_get_distinct_consecutive_versions(store, project):
    jobs = [_job_at(store, project, Status.CHECKS).job_id for _ in range(50)]
    barrier = threading.Barrier(50, timeout=30)
    versions: dict[str, str] = {}

    def finish(job_id: str) -> None:
        own = JobStore(connect(os.environ["REDIS_URL"]))
        barrier.wait()
        assert own.transition(job_id, Status.READY, expected=Status.CHECKS).ok
        versions[job_id] = own.get_job(job_id).build_version

    threads = [threading.Thread(target=finish, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    join_all(threads, 60, "the finishing threads")
    numbers = sorted(int(v.rsplit("_", 1)[1]) for v in versions.values())
    assert numbers == list(range(1, 51))
    assert store.predicted_version(project["project_id"]) == "build_v0_51"


def test_ready_event_carries_build_version_and_is_final(store, project):
    job = _job_at(store, project, Status.CHECKS)
    assert store.transition(job.job_id, Status.READY, preview_url="http://x").ok
    last = history(store, job.job_id)[-1][1]
    assert last["build_version"] == "build_v0_1" and last["preview_url"] == "http://x"
    assert not store.transition(job.job_id, Status.FAILED).ok
    assert store.cancel(job.job_id, "Cancelled by user").reason == "illegal"
    assert not cancel_flag(store, job.job_id)
