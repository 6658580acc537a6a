"""Cancelled builds and the daily quota. What a user expects: a build cancelled before it
started (still queued, or scheduled for a later day) was never run, so its unit comes back, to
the day it was counted against; a build cancelled after it started has used a sandbox (and
maybe the model) and keeps counting. Before, every cancelled build counted."""

from __future__ import annotations

import dataclasses

from domain.clock import utc_day
from domain.failures import CANCELLED_MESSAGE
from domain.status import Status
from tests.capacity.conftest import T0
from tests.support.store_reads import cancel_flag
from tests.web.conftest import walk

MIDNIGHT = T0 + 600  # conftest's clock starts ten minutes before a UTC midnight
DAILY = {"KILN_TIER_BOOTSTRAPPER_DAILY_JOBS": "2"}


def _used(cstore, user: str, at: float) -> int:
    return int(cstore.redis.get(cstore.keys.quota(user, utc_day(at))) or 0)


def test_a_queued_build_cancelled_before_it_started_gives_its_unit_back(
        make_capacity, new_project, cstore):
    cap = make_capacity(global_cap=0, env=DAILY)  # nothing is admitted: both wait in the queue
    pid = new_project("u")
    first, second = (cap.start(pid, "u", "bootstrapper", "app").job for _ in range(2))
    assert cap.usage("u", "bootstrapper")["jobs_remaining"] == 0
    result = cap.cancel(first, CANCELLED_MESSAGE)
    assert result.ok and result.refunded and result.previous == Status.QUEUED
    job = cstore.get_job(first.job_id)
    assert job.status == Status.FAILED and job.cancelled and job.error_code == "cancelled"
    assert cancel_flag(cstore, first.job_id)
    assert cap.usage("u", "bootstrapper")["jobs_used"] == 1
    # The unit is usable again today: the next start queues instead of being scheduled.
    assert cap.start(pid, "u", "bootstrapper", "app").job.status == Status.QUEUED
    assert cap.start(pid, "u", "bootstrapper", "app").job.status == Status.SCHEDULED
    assert cap.cancel(second, CANCELLED_MESSAGE).refunded


def test_an_admitted_build_whose_stage_has_not_begun_still_counts_as_not_started(
        make_capacity, new_project, cstore):
    cap = make_capacity(global_cap=5, env=DAILY)
    decision = cap.start(new_project("u"), "u", "bootstrapper", "app")
    assert decision.admitted  # its `starting` message is on its way, the job still queued
    assert cap.cancel(decision.job, CANCELLED_MESSAGE).refunded
    assert _used(cstore, "u", T0) == 0
    assert cstore.redis.zcard(cstore.keys.live_global()) == 0  # and its slot is free


def test_a_build_cancelled_after_it_started_keeps_counting(make_capacity, new_project, cstore):
    cap = make_capacity(global_cap=5, env=DAILY)
    job = cap.start(new_project("u"), "u", "bootstrapper", "app").job
    walk(cstore, job.job_id, Status.STARTING, Status.SCAFFOLD)
    result = cap.cancel(job, CANCELLED_MESSAGE)
    assert result.ok and not result.refunded and result.previous == Status.SCAFFOLD
    assert _used(cstore, "u", T0) == 1


def test_a_cancel_refused_as_terminal_gives_nothing_back(make_capacity, new_project, cstore):
    cap = make_capacity(global_cap=0, env=DAILY)
    job = cap.start(new_project("u"), "u", "bootstrapper", "app").job
    assert cap.cancel(job, CANCELLED_MESSAGE).refunded
    again = cap.cancel(job, CANCELLED_MESSAGE)  # a double click, two tabs
    assert not again.ok and again.reason == "illegal" and not again.refunded
    assert _used(cstore, "u", T0) == 0  # given back once, never below zero
    ready = cap.start(new_project("v"), "v", "bootstrapper", "app").job
    walk(cstore, ready.job_id, Status.STARTING, Status.SCAFFOLD, Status.CODE, Status.DEPS,
         Status.CHECKS, Status.READY)
    assert not cap.cancel(ready, CANCELLED_MESSAGE).ok
    assert _used(cstore, "v", T0) == 1
    missing = cap.cancel(dataclasses.replace(job, job_id="0" * 32), CANCELLED_MESSAGE)
    assert not missing.ok and missing.reason == "missing"


def test_a_scheduled_build_cancelled_before_release_frees_its_day(make_capacity, new_project,
                                                                  cstore, clock):
    cap = make_capacity(global_cap=5, env=DAILY)
    pid = new_project("u")
    today = [cap.start(pid, "u", "bootstrapper", "app").job for _ in range(2)]
    tomorrow = [cap.start(pid, "u", "bootstrapper", "app").job for _ in range(2)]
    assert {j.status for j in tomorrow} == {Status.SCHEDULED}
    assert {j.scheduled_for for j in tomorrow} == {MIDNIGHT}
    assert _used(cstore, "u", MIDNIGHT) == 2
    # Day after tomorrow is where the next one would go; the cancel brings it back to tomorrow.
    result = cap.cancel(tomorrow[0], CANCELLED_MESSAGE)
    assert result.ok and result.refunded and result.previous == Status.SCHEDULED
    assert _used(cstore, "u", MIDNIGHT) == 1 and _used(cstore, "u", T0) == 2
    assert cap.usage("u", "bootstrapper")["scheduled"] == 1
    assert tomorrow[0].job_id not in cstore.redis.zrange(cstore.keys.scheduled(), 0, -1)
    replacement = cap.start(pid, "u", "bootstrapper", "app").job
    assert replacement.scheduled_for == MIDNIGHT

    for job in today:  # today's builds end; midnight comes
        assert cstore.transition(job.job_id, Status.FAILED).ok
    clock.set(MIDNIGHT + 1)
    released = {job_id for job_id, _ in cap.release_scheduled()}
    assert released == {tomorrow[1].job_id, replacement.job_id}  # not the cancelled one
    assert cstore.get_job(tomorrow[0].job_id).status == Status.FAILED
    assert _used(cstore, "u", MIDNIGHT) == 2


def test_a_released_build_cancelled_before_it_starts_gives_back_to_its_scheduled_day(
        make_capacity, new_project, cstore, clock):
    cap = make_capacity(global_cap=0, env={"KILN_TIER_BOOTSTRAPPER_DAILY_JOBS": "1"})
    pid = new_project("u")
    cap.start(pid, "u", "bootstrapper", "app")
    late = cap.start(pid, "u", "bootstrapper", "app").job
    clock.set(MIDNIGHT + 1)
    cap.release_scheduled()
    assert cstore.get_job(late.job_id).status == Status.QUEUED
    assert cap.cancel(cstore.get_job(late.job_id), CANCELLED_MESSAGE).refunded
    assert _used(cstore, "u", MIDNIGHT) == 0 and _used(cstore, "u", T0) == 1


def test_a_replayed_build_cancelled_while_queued_gives_nothing_back(make_capacity, new_project,
                                                                    cstore):
    cap = make_capacity(global_cap=0, env=DAILY)
    job = cap.start(new_project("u"), "u", "bootstrapper", "app").job
    walk(cstore, job.job_id, Status.STARTING, Status.FAILED)  # it ran, and failed
    outcome, attempt = cstore.reopen(job.job_id, 1, Status.STARTING)
    assert outcome == "ok" and attempt == 2  # queued again: a replay is never counted
    assert not cap.cancel(cstore.get_job(job.job_id), CANCELLED_MESSAGE).refunded
    assert _used(cstore, "u", T0) == 1
