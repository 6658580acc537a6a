"""Sandbox leases and replacement against real workers and local sandboxes (bubblewrap when
present): a sandbox lost mid-build is replaced with the build's files and dependencies and the
build still gets to READY; the reaper leaves a live build's sandbox alone while the build makes
progress."""

from __future__ import annotations

import dataclasses

from actors import housekeeping
from domain.status import Status
from domain.telemetry import Telemetry
from tests.support.generators import ShortInstall
from tests.support.store_reads import history
from tests.support.waiting import wait_for
from web.preview.targets import fetch


def _in_install(pipeline, generator: ShortInstall):
    """Start a build and wait until its install command runs in its sandbox."""
    job_id = pipeline.start("a todo app")
    wait_for(lambda: generator.install_pids(), 60, message="the install command to run")
    job = pipeline.svc.store.get_job(job_id)
    assert job.status == Status.DEPS
    return job


def test_a_sandbox_killed_mid_install_is_replaced_and_the_build_is_ready(pipeline):
    from actors import telemetry_writer

    generator = ShortInstall()
    pipeline.use(generator=generator)
    svc = pipeline.svc
    job = _in_install(pipeline, generator)
    lost = job.sandbox_id
    assert svc.runtime.kill(lost)  # reaped, host lost, provider timeout: it is gone
    done = pipeline.wait_terminal(job.job_id, timeout=90)
    assert done.status == Status.READY, done.error_detail
    assert done.sandbox_replacements == 1 and done.sandbox_id != lost
    # The replacement holds the generated app (restored from the stored files) and serves it.
    assert fetch(done.preview_upstream).status_code == 200
    assert [r.sandbox_id for r in svc.registry.for_job(job.job_id)] == [done.sandbox_id]
    statuses = [e["status"] for _, e in history(svc.store, job.job_id)]
    assert statuses == ["queued", "starting", "scaffold", "code", "deps", "checks", "ready"]
    telemetry_writer.writer.flush()
    snap = Telemetry(svc.store.redis).snapshot()
    assert snap.counters["sandbox_replacements"] == {("deps",): 1}


def test_a_sandbox_lost_between_stages_is_replaced_with_its_dependencies(pipeline):
    """Lost while `checks` waited for a worker: checks gets a new sandbox with the stored files
    and the install step run again (the app's own tests need it)."""
    from actors import telemetry_writer

    generator = ShortInstall()
    pipeline.use(generator=generator)
    svc = pipeline.svc
    job = _in_install(pipeline, generator)
    pipeline.worker.pause()  # checks' message waits in the queue meanwhile
    try:
        wait_for(lambda: (svc.store.get_job(job.job_id).handed_off or "").startswith("deps:"),
                 30, message="deps to hand off")
        assert svc.store.get_job(job.job_id).status == Status.DEPS  # checks not yet entered
        assert svc.runtime.kill(job.sandbox_id)
    finally:
        pipeline.worker.resume()
    done = pipeline.wait_terminal(job.job_id, timeout=90)
    assert done.status == Status.READY, done.error_detail
    assert done.sandbox_replacements == 1
    assert fetch(done.preview_upstream).status_code == 200
    telemetry_writer.writer.flush()
    replaced = Telemetry(svc.store.redis).snapshot().counters["sandbox_replacements"]
    assert replaced == {("checks",): 1}  # replaced by checks, which installs what deps did


def test_a_build_whose_replacement_budget_is_spent_fails(pipeline):
    generator = ShortInstall()
    pipeline.use(generator=generator,
                 settings=dataclasses.replace(pipeline.svc.settings, max_sandbox_replacements=0))
    job = _in_install(pipeline, generator)
    pipeline.svc.runtime.kill(job.sandbox_id)
    done = pipeline.wait_terminal(job.job_id, timeout=60)
    assert done.status == Status.FAILED and done.failed_stage == "deps"
    assert "SandboxGone" in (done.error_detail or "")


def test_the_reaper_keeps_a_live_builds_sandbox_while_its_lease_runs(pipeline):
    svc, store = pipeline.svc, pipeline.svc.store
    project_id = store.create_project("user-1", "Lease")["project_id"]
    job = store.create_job(project_id, "user-1", "partner", "x", status=Status.DEPS)
    current = svc.runtime.create(job.job_id, {}, timeout_s=1)
    spare = svc.runtime.create(job.job_id, {}, timeout_s=1)  # a twin's, never recorded
    now = store.clock.now()
    assert store.update(job.job_id, Status.DEPS, sandbox_id=current.id, lease_until=now + 60)
    for sandbox in (current, spare):  # both past the expiry they were created with
        svc.registry.extend(sandbox.id, now - 1)
    assert housekeeping.reap(svc) == 1
    assert [r.sandbox_id for r in svc.registry.for_job(job.job_id)] == [current.id]
    # No progress past the lease: the reaper may take it.
    assert store.update(job.job_id, Status.DEPS, lease_until=now - 1)
    assert housekeeping.reap(svc) == 1
    assert not svc.registry.for_job(job.job_id)
    reaped = Telemetry(store.redis).snapshot().counters["sandboxes_reaped"]
    assert reaped == {("expired",): 1, ("lease_expired",): 1}
