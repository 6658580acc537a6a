"""Found by the reliability suite (tests/chaos): a stage run twice (a frozen worker's message
recovered by another worker) must not tear down what its twin built, and a lost Redis
connection mid-stage is retried, not the build's failure."""

from __future__ import annotations

import dataclasses

import redis

from actors import teardown
from actors.generators.template import TemplateGenerator
from actors.handoff import Ready, hand_off
from actors.stage import StageContext
from domain.failures import CANCELLED_MESSAGE, Reason
from domain.status import Status


def _ready(pipeline):
    job = pipeline.wait_terminal(pipeline.start("a notes app"))
    assert job.status == Status.READY
    return job


def _alive(pipeline, sandbox_id: str) -> bool:
    live = {sid for sid, _meta in pipeline.svc.runtime.list_live()}
    return pipeline.svc.registry.get(sandbox_id) is not None and sandbox_id in live


def test_a_late_twin_of_a_finished_stage_leaves_the_ready_preview_alone(pipeline):
    svc, job = pipeline.svc, _ready(pipeline)
    # The frozen twin of `checks` wakes up after the job went READY: READY is refused, its
    # failure is refused, its refused write reads as a cancel; none of them may kill.
    twin = StageContext(dataclasses.replace(job, status=Status.CHECKS), Status.CHECKS, svc)
    assert hand_off(twin, Ready({"preview_upstream": "http://127.0.0.1:1"})) == "superseded"
    teardown.fail(svc, job.job_id, Status.CHECKS, Reason.STAGE_ERROR, "late twin")
    teardown.after_cancel(svc, job.job_id)
    assert svc.store.get_job(job.job_id).status == Status.READY
    assert _alive(pipeline, job.sandbox_id)


def test_a_cancelled_job_is_still_torn_down(pipeline):
    svc = pipeline.svc
    project_id = svc.store.create_project("user-1", "Cancel")["project_id"]
    job = svc.store.create_job(project_id, "user-1", "partner", "x", status=Status.DEPS)
    sandbox = svc.runtime.create(job.job_id, {}, timeout_s=600)
    assert svc.store.cancel(job.job_id, CANCELLED_MESSAGE).ok
    teardown.after_cancel(svc, job.job_id)
    assert not _alive(pipeline, sandbox.id)


class RedisBlipOnce(TemplateGenerator):
    """The first answer meets a Redis connection lost mid-stage (a restart)."""

    name = "redis-blip-once"

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def generate(self, goal, workspace, feedback):
        self.calls += 1
        if self.calls == 1:
            raise redis.ConnectionError("Error 2 connecting to redis.sock")
        return super().generate(goal, workspace, feedback)


def test_a_lost_redis_connection_mid_stage_is_retried_not_failed(pipeline):
    generator = RedisBlipOnce()
    pipeline.use(generator=generator)
    job = pipeline.wait_terminal(pipeline.start("a todo app"))
    assert job.status == Status.READY, job.error_detail
    assert generator.calls == 2 and job.redeliveries >= 1  # the same message resumed `code`
