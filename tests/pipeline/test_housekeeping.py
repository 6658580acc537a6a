"""Housekeeping against real workers and sandboxes: reaper, watchdog, lost admissions."""

from __future__ import annotations

import dataclasses

import httpx

from actors import housekeeping
from domain.failures import CANCELLED_MESSAGE
from domain.status import Status
from tests.support.store_reads import history
from tests.support.waiting import wait_for
from web.preview.targets import fetch


def _ready_job(pipeline):
    job = pipeline.wait_terminal(pipeline.start("a notes app"))
    assert job.status == Status.READY
    return job


def test_reaper_kills_an_expired_preview_and_keeps_a_live_one(pipeline):
    store = pipeline.svc.store
    expired, live = _ready_job(pipeline), _ready_job(pipeline)
    assert store.update(expired.job_id, Status.READY, sandbox_expires_at=store.clock.now() - 1)
    assert housekeeping.reap(pipeline.svc) == 1
    assert not pipeline.svc.registry.for_job(expired.job_id)
    assert pipeline.svc.registry.for_job(live.job_id)
    assert fetch(live.preview_upstream).status_code == 200
    wait_for(lambda: not _answers(expired.preview_upstream), 5, message="the expired preview to stop")


def test_reaper_kills_an_orphan_whose_job_vanished(pipeline):
    sandbox = pipeline.svc.runtime.create("job-that-never-was", {}, timeout_s=600)
    pid_marker = sandbox.start_background("sleep 300")
    assert pid_marker
    assert [r.sandbox_id for r in pipeline.svc.registry.for_job("job-that-never-was")] == [sandbox.id]
    assert housekeeping.reap(pipeline.svc) >= 1
    assert not pipeline.svc.registry.for_job("job-that-never-was")
    assert not sandbox.kill()  # already gone


def test_reaper_enforces_the_cancel_hard_deadline(pipeline):
    pipeline.use(settings=dataclasses.replace(pipeline.svc.settings, cancel_hard_deadline_s=0))
    store = pipeline.svc.store
    project_id = store.create_project("user-1", "Stuck")["project_id"]
    job = store.create_job(project_id, "user-1", "partner", "x", status=Status.DEPS)
    sandbox = pipeline.svc.runtime.create(job.job_id, {}, timeout_s=600)
    # The actor holding this job is "stuck": nobody but the reaper will tear it down.
    assert store.cancel(job.job_id, CANCELLED_MESSAGE).ok
    housekeeping.reap(pipeline.svc)
    assert not pipeline.svc.registry.for_job(job.job_id)
    assert not sandbox.kill()


def test_watchdog_redrives_a_stage_whose_message_was_lost(pipeline):
    store, svc = pipeline.svc.store, pipeline.svc
    project_id = store.create_project("user-1", "Lost")["project_id"]
    job = svc.capacity.start(project_id, "user-1", "partner", "a todo app").job
    # A worker took the `starting` message and died; the message itself is gone from Redis.
    entry = store.enter_stage(job.job_id, Status.STARTING, 1, 0, 5, message_id="lost-message")
    assert entry.outcome == "entered"
    store.redis.zadd(store.keys.active(), {job.job_id: 0})  # its deadline has passed
    assert housekeeping.watchdog(svc) == 1
    done = pipeline.wait_terminal(job.job_id)
    assert done.status == Status.READY
    statuses = [e["status"] for _, e in history(store, job.job_id)]
    assert statuses.count("starting") == 1 and statuses[-1] == "ready"


def test_watchdog_fails_a_stage_once_its_redrive_budget_is_spent(pipeline):
    store, svc = pipeline.svc.store, pipeline.svc
    project_id = store.create_project("user-1", "Stuck")["project_id"]
    job = store.create_job(project_id, "user-1", "partner", "x", status=Status.CODE)
    store.redis.hset(store.keys.job(job.job_id), "redrives", svc.settings.max_deliveries)
    store.redis.zadd(store.keys.active(), {job.job_id: 0})
    housekeeping.watchdog(svc)
    failed = store.get_job(job.job_id)
    assert failed.status == Status.FAILED and failed.error_code == "stuck"


def test_a_lost_starting_message_is_sent_again(pipeline):
    store, svc = pipeline.svc.store, pipeline.svc
    project_id = store.create_project("user-1", "Lost start")["project_id"]
    decision = svc.capacity.start(project_id, "user-1", "partner", "a todo app")
    assert decision.admitted  # admitted, but its `starting` message is never sent
    store.redis.zadd(store.keys.live_global(), {decision.job.job_id: 0})  # admitted long ago
    assert housekeeping.queue_upkeep(svc) == 1
    assert pipeline.wait_terminal(decision.job.job_id).status == Status.READY


def _answers(upstream: str) -> bool:
    try:
        return fetch(upstream, timeout=1).status_code == 200
    except (httpx.HTTPError, OSError):  # refused, or its socket's directory gone
        return False


def test_reaper_kills_e2b_sandboxes_the_provider_lists_without_a_record(pipeline):
    """E2B's cloud cannot be reached here: the runtime talks to a fake with the SDK's surface
    (tests/sandbox/fake_e2b.py); the reaper's logic is the real one."""
    from actors.sandbox.e2b import E2BRuntime
    from tests.sandbox.fake_e2b import CLOUD, FakeSandbox, FakeSDK, Script

    FakeSandbox.reset(Script())
    runtime = E2BRuntime(registry=pipeline.svc.registry, sdk=FakeSDK)
    pipeline.use(runtime=runtime)
    store = pipeline.svc.store
    project_id = store.create_project("user-1", "Cloud")["project_id"]
    job = store.create_job(project_id, "user-1", "partner", "x", status=Status.DEPS)
    kept = runtime.create(job.job_id, {"kiln_job_id": job.job_id}, timeout_s=600)
    store.update(job.job_id, Status.DEPS, sandbox_id=kept.id)
    # A sandbox whose worker died between the provider's create and Kiln's registration.
    orphan = FakeSDK.create(metadata={"kiln": "1", "kiln_job_id": "lost-job"})
    # Someone else's sandbox in the same account: no Kiln metadata, never touched.
    foreign = FakeSDK.create(metadata={"owner": "someone-else"})
    housekeeping.reap(pipeline.svc)
    assert set(CLOUD.boxes) == {kept.id, foreign.sandbox_id}
    assert orphan.sandbox_id not in CLOUD.boxes
