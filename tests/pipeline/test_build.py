"""Full builds through real workers, real local sandboxes and the template generator."""

from __future__ import annotations

from domain.messages import send_stage
from domain.status import Status
from tests.support.store_reads import history
from tests.support.waiting import wait_for
from web.preview.targets import fetch

PIPELINE = ["queued", "starting", "scaffold", "code", "deps", "checks", "ready"]


def test_a_build_reaches_ready_and_serves_its_preview(pipeline):
    goal = "a todo app with due dates"
    job_id = pipeline.start(goal)
    job = pipeline.wait_terminal(job_id)
    assert job.status == Status.READY, job.error_detail
    assert job.build_version == "build_v0_1"
    assert job.sandbox_expires_at and job.sandbox_expires_at > job.updated_at
    page = fetch(job.preview_upstream)
    assert page.status_code == 200 and goal in page.text
    events = [e["status"] for _, e in history(pipeline.svc.store, job_id)]
    assert events == PIPELINE
    assert job.files_written and job.files_written >= 3


def test_the_same_stage_message_twice_has_one_effect(pipeline):
    store = pipeline.svc.store
    project_id = store.create_project("user-1", "Dup")["project_id"]
    decision = pipeline.svc.capacity.start(project_id, "user-1", "partner", "a notes app")
    job_id = decision.job.job_id
    # Two independent starting messages for the same job, as a retried send would make.
    send_stage(pipeline.svc.broker, Status.STARTING, job_id, 1)
    send_stage(pipeline.svc.broker, Status.STARTING, job_id, 1)
    job = pipeline.wait_terminal(job_id)
    assert job.status == Status.READY
    pipeline.settle()  # the duplicate message too
    statuses = [e["status"] for _, e in history(store, job_id)]
    assert statuses == PIPELINE
    sandboxes = [r for r in pipeline.svc.registry.all() if r.job_id == job_id]
    assert [r.sandbox_id for r in sandboxes] == [job.sandbox_id]
    assert store.predicted_version(project_id) == "build_v0_2"


def test_two_builds_of_one_project_get_consecutive_versions(pipeline):
    store = pipeline.svc.store
    project_id = store.create_project("user-1", "Twice")["project_id"]
    first = pipeline.start("a notes app", project_id=project_id)
    second = pipeline.start("a notes app with tags", project_id=project_id)
    versions = {pipeline.wait_terminal(j).build_version for j in (first, second)}
    assert versions == {"build_v0_1", "build_v0_2"}


def test_a_failing_stage_fails_the_job_with_its_message_and_debug_id(pipeline, caplog):
    class Exploding:
        name = "exploding"

        def generate(self, goal, workspace, feedback):
            raise RuntimeError("generator blew up with key sk-test-0123456789abcdef")

    pipeline.use(generator=Exploding())
    job = pipeline.wait_terminal(pipeline.start("a todo app"))
    assert job.status == Status.FAILED and job.failed_stage == "code"
    assert job.error_message == "We hit an issue writing your app's code. Want us to try again?"
    assert "generator blew up" in job.error_detail
    assert job.debug_id.startswith("dbg_")
    wait_for(lambda: not pipeline.svc.registry.for_job(job.job_id), 5,
             message="the failed job's sandbox to be torn down")
