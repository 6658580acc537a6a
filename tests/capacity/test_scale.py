"""Admission stays cheap with 10,000 jobs waiting: the script only looks at the queue's head."""

from __future__ import annotations

import time

from tests.capacity.conftest import free_slot


def _fill(cap, user_id: str, project_id: str, n: int) -> None:
    """Queue n waiting jobs of one user directly (start() would hit the daily quota)."""
    keys = cap.keys
    pipe = cap.redis.pipeline(transaction=False)
    for i in range(n):
        job_id = f"bulk-{i}"
        pipe.hset(keys.job(job_id), mapping={
            "job_id": job_id, "status": "queued", "user_id": user_id, "project_id": project_id,
            "tier": "bootstrapper", "attempt": 1})
        pipe.zadd(keys.queue(), {job_id: i + 1})
    pipe.set(keys.queue_seq(), n)
    pipe.execute()


def _mean_admit_s(cap, rounds: int = 50) -> float:
    began = time.perf_counter()
    for _ in range(rounds):
        cap.admit()
    return (time.perf_counter() - began) / rounds


def test_admit_with_ten_thousand_blocked_jobs_is_bounded(make_capacity, new_project, cstore):
    cap = make_capacity(global_cap=20, queue_cap=20_000)
    empty = _mean_admit_s(cap)
    hog = new_project("hog")
    _fill(cap, "hog", hog, 10_000)
    got = cap.admit()
    assert len(got) == 2  # the hog's own cap (bootstrapper: 2); its other 9,998 wait
    # Every call now walks past blocked jobs; the bounded scan keeps that cheap.
    full = _mean_admit_s(cap)
    assert full < max(20 * empty, 0.02), (empty, full)
    # Another user's job at the very back is not reached by the bounded scan, by design...
    other = cap.start(new_project("v"), "v", "partner", "app")
    assert cap.position(other.job.job_id) > cap.scan_limit and other.admitted == []
    # ...until the head moves: the hog's jobs are admitted as its builds end.
    free_slot(cstore, got[0][0])
    assert cap.admit() == [("bulk-2", 1)]
