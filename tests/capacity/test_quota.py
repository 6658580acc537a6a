"""Daily quotas across a UTC midnight, scheduled jobs, the queue cap, usage and ETAs."""

from __future__ import annotations

import pytest

from domain.capacity import QueueFull
from domain.clock import iso, next_utc_midnight, utc_day
from domain.status import Status
from tests.capacity.conftest import T0, finished_builds, free_slot
from tests.support.store_reads import history

MIDNIGHT = next_utc_midnight(T0)


def test_over_quota_is_scheduled_then_released_after_midnight(make_capacity, new_project,
                                                               cstore, clock):
    cap = make_capacity(global_cap=20)
    pid = new_project("u")
    first = [cap.start(pid, "u", "bootstrapper", "app") for _ in range(5)]
    assert all(d.job.status == Status.QUEUED for d in first)
    late = [cap.start(pid, "u", "bootstrapper", "app") for _ in range(2)]
    for d in late:
        assert d.job.status == Status.SCHEDULED and d.job.scheduled_for == MIDNIGHT
        assert d.admitted == [] and cap.position(d.job.job_id) is None
        assert cstore.get_job(d.job.job_id).scheduled_for == MIDNIGHT
    assert history(cstore, late[0].job.job_id)[-1][1]["status"] == "scheduled"
    assert cap.eta_seconds(late[0].job.job_id) == MIDNIGHT - T0

    assert cap.release_scheduled() == []  # 23:50: not yet
    assert cstore.get_job(late[0].job.job_id).status == Status.SCHEDULED

    for d in first:  # the day's builds finish
        free_slot(cstore, d.job.job_id)
    clock.set(MIDNIGHT + 1)
    admitted = cap.release_scheduled()
    assert sorted(admitted) == sorted((d.job.job_id, 1) for d in late)
    for d in late:
        assert cstore.get_job(d.job.job_id).status == Status.QUEUED
        assert history(cstore, d.job.job_id)[-1][1]["from"] == "scheduled"
    assert cap.release_scheduled() == []  # released once
    # They count against the new day (the day they run on).
    assert cap.usage("u", "bootstrapper")["jobs_used"] == 2


def test_released_jobs_queue_in_the_order_they_were_started(make_capacity, new_project,
                                                            clock):
    cap = make_capacity(global_cap=0, env={"KILN_TIER_PARTNER_DAILY_JOBS": "1"})
    queued, scheduled = [], []
    for user in ("u5", "u3", "u1", "u4", "u2"):  # ids are random: order comes from time
        pid = new_project(user)
        queued.append(cap.start(pid, user, "partner", "app").job.job_id)
        scheduled.append(cap.start(pid, user, "partner", "app").job.job_id)
        clock.advance(1)
    clock.set(MIDNIGHT)
    cap.release_scheduled()
    assert cap.redis.zrange(cap.keys.queue(), 0, -1) == queued + scheduled


def test_quota_cascades_to_the_first_day_with_room(make_capacity, new_project):
    cap = make_capacity(env={"KILN_TIER_BOOTSTRAPPER_DAILY_JOBS": "1"})
    pid = new_project("u")
    jobs = [cap.start(pid, "u", "bootstrapper", "app").job for _ in range(3)]
    assert [j.status for j in jobs] == [Status.QUEUED, Status.SCHEDULED, Status.SCHEDULED]
    assert [j.scheduled_for for j in jobs[1:]] == [MIDNIGHT, MIDNIGHT + 86_400]


def test_quota_key_expires(make_capacity, new_project, cstore):
    cap = make_capacity()
    cap.start(new_project("u"), "u", "partner", "app")
    key = cstore.keys.quota("u", utc_day(T0))
    assert cstore.redis.get(key) == "1"
    assert 600 < cstore.redis.ttl(key) <= 600 + 3600  # an hour past the day's end


def test_usage(make_capacity, new_project, cstore):
    cap = make_capacity(global_cap=20)
    pid = new_project("u")
    decisions = [cap.start(pid, "u", "bootstrapper", "app") for _ in range(6)]
    assert cstore.cancel(decisions[4].job.job_id, "Cancelled by user").ok
    assert cap.usage("u", "bootstrapper") == {
        "tier": "bootstrapper", "jobs_used": 5, "jobs_remaining": 0, "daily_jobs": 5,
        "resets_at": iso(MIDNIGHT), "running": 2, "concurrent_limit": 2, "queued": 2,
        "scheduled": 1}
    fresh = cap.usage("nobody", "partner")
    assert (fresh["jobs_used"], fresh["jobs_remaining"], fresh["running"]) == (0, 50, 0)


def test_queue_cap_refuses_with_retry_after(make_capacity, new_project, cstore, clock):
    cap = make_capacity(global_cap=1, queue_cap=3)
    finished_builds(cstore, 100)
    running = cap.start(new_project("a"), "a", "partner", "app")
    waiting = [cap.start(new_project(u), u, "partner", "app") for u in "bcd"]
    assert running.admitted and cap.queue_depth() == 3
    clock.advance(40)
    with pytest.raises(QueueFull) as refused:
        cap.start(new_project("e"), "e", "partner", "app")
    assert refused.value.retry_after == 60  # the running build should end in 100 - 40 s
    assert cstore.redis.zcard(cstore.keys.user_jobs("e")) == 0  # nothing created or counted
    assert cap.usage("e", "partner")["jobs_used"] == 0
    clock.advance(600)  # overdue: still at least one second
    with pytest.raises(QueueFull) as refused:
        cap.start(new_project("e"), "e", "partner", "app")
    assert refused.value.retry_after == 1
    # A cancelled waiting job frees its place in the queue.
    assert cstore.cancel(waiting[0].job.job_id, "Cancelled by user").ok
    assert cap.start(new_project("e"), "e", "partner", "app").job.status == Status.QUEUED


def test_over_quota_start_is_never_refused_even_when_queue_is_full(make_capacity, new_project):
    cap = make_capacity(global_cap=0, queue_cap=1,
                        env={"KILN_TIER_PARTNER_DAILY_JOBS": "1"})
    cap.start(new_project("a"), "a", "partner", "app")
    assert cap.start(new_project("a"), "a", "partner", "app").job.status == Status.SCHEDULED


def test_eta_from_moving_average(make_capacity, new_project, cstore, clock):
    cap = make_capacity(global_cap=2)
    finished_builds(cstore, 60, 90, 120)
    assert cap.average_build_s() == 90
    for u in "ab":
        cap.start(new_project(u), u, "partner", "app")
    clock.advance(30)
    waiting = [cap.start(new_project(u), u, "partner", "app").job.job_id for u in "cdefg"]
    # Two slots free 60 s from now, then every 90 s per slot.
    assert [cap.eta_seconds(j) for j in waiting] == [60, 60, 150, 150, 240]
    assert cap.eta_seconds("no-such-job") is None


def test_publish_positions_only_when_changed(make_capacity, new_project, cstore):
    cap = make_capacity(global_cap=1)
    running = cap.start(new_project("x"), "x", "partner", "app").job.job_id
    waiting = [cap.start(new_project(u), u, "partner", "app").job.job_id for u in "abc"]

    def queue_events(job_id):
        return [e for _, e in history(cstore, job_id) if e["type"] == "queue"]

    assert cap.publish_positions() == 3
    assert cap.publish_positions() == 0  # nothing moved
    assert [queue_events(j)[-1]["position"] for j in waiting] == ["1", "2", "3"]
    assert all("eta_seconds" in queue_events(j)[-1] for j in waiting)
    free_slot(cstore, running)
    assert cap.admit() == [(waiting[0], 1)]
    assert cap.publish_positions() == 2
    assert [queue_events(j)[-1]["position"] for j in waiting[1:]] == ["1", "2"]
    assert len(queue_events(waiting[0])) == 1
