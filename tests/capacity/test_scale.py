"""Admission stays cheap with 10,000 jobs waiting: the script only looks at the queue's head.
Counted in Redis commands, not timed (the time is a figure of `bin/bench admission`)."""

from __future__ import annotations

from tests.capacity.conftest import free_slot


def _fill(cap, user_id: str, project_id: str, first: int, last: int) -> None:
    """Queue jobs `first`..`last - 1` of one user directly (start() would hit the daily quota)."""
    keys = cap.keys
    pipe = cap.redis.pipeline(transaction=False)
    for i in range(first, last):
        job_id = f"bulk-{i}"
        pipe.hset(keys.job(job_id), mapping={
            "job_id": job_id, "status": "queued", "user_id": user_id, "project_id": project_id,
            "tier": "bootstrapper", "attempt": 1})
        pipe.zadd(keys.queue(), {job_id: i + 1})
    pipe.set(keys.queue_seq(), last)
    pipe.execute()


def _commands_of_one_admit(cap) -> int:
    """Redis commands one admit() runs, the calls inside its script included (INFO
    commandstats counts those too)."""
    def calls() -> int:
        stats = cap.redis.info("commandstats")
        return sum(v["calls"] for k, v in stats.items() if k != "cmdstat_info")

    before = calls()
    cap.admit()
    return calls() - before


def test_admit_with_ten_thousand_blocked_jobs_is_bounded(make_capacity, new_project, cstore):
    cap = make_capacity(global_cap=20, queue_cap=20_000)
    hog = new_project("hog")
    _fill(cap, "hog", hog, 0, 1_000)
    got = cap.admit()
    assert len(got) == 2  # the hog's own cap (bootstrapper: 2); its other jobs wait
    # Every call now walks past blocked jobs; with ten times as many waiting, the bounded
    # scan runs the same commands (a little slack: the test Redis is not ours alone).
    at_1k = _commands_of_one_admit(cap)
    _fill(cap, "hog", hog, 1_000, 10_000)
    at_10k = _commands_of_one_admit(cap)
    assert at_1k <= 2 * cap.scan_limit and at_10k <= at_1k + 10, (at_1k, at_10k)
    # Another user's job at the very back is not reached by the bounded scan, by design...
    other = cap.start(new_project("v"), "v", "partner", "app")
    assert cap.position(other.job.job_id) > cap.scan_limit and other.admitted == []
    # ...until the head moves: the hog's jobs are admitted as its builds end.
    free_slot(cstore, got[0][0])
    assert cap.admit() == [("bulk-2", 1)]
