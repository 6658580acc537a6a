"""Cancel in the middle of a long sandbox command: every process of the sandbox ends (how
soon: `bin/bench cancel`), and a queued job's next actor drops it."""

from __future__ import annotations

from domain.failures import CANCELLED_MESSAGE
from domain.status import Status
from tests.support.generators import SlowInstall
from tests.support.store_reads import history
from tests.support.waiting import pid_alive, wait_for


def test_cancel_during_a_long_install_kills_every_process(pipeline):
    generator = SlowInstall()
    pipeline.use(generator=generator)
    store = pipeline.svc.store
    job_id = pipeline.start("a todo app")
    pids = wait_for(lambda: len(p := generator.install_pids()) >= 2 and p, 30,
                    message="the install's processes to start")
    assert all(pid_alive(p) for p in pids)

    assert store.cancel(job_id, CANCELLED_MESSAGE).ok
    wait_for(lambda: not any(pid_alive(p) for p in pids), 30,
             message="every process of the sandbox to end")

    pipeline.settle()  # the actor has finished with the message
    job = store.get_job(job_id)
    assert job.status == Status.FAILED and job.cancelled and job.error_message == CANCELLED_MESSAGE
    statuses = [e["status"] for _, e in history(store, job_id)]
    assert statuses[-1] == "failed" and statuses.count("failed") == 1
    assert not pipeline.svc.registry.for_job(job_id)


def test_a_cancelled_job_waiting_in_the_queue_is_dropped_by_its_next_actor(pipeline):
    store = pipeline.svc.store
    project_id = store.create_project("user-1", "Queue")["project_id"]
    decision = pipeline.svc.capacity.start(project_id, "user-1", "partner", "a notes app")
    job_id = decision.job.job_id
    assert store.cancel(job_id, CANCELLED_MESSAGE).ok
    from domain.messages import send_stage

    for admitted, attempt in decision.admitted:
        send_stage(pipeline.svc.broker, Status.STARTING, admitted, attempt)
    pipeline.settle()  # the message was fetched, run and acknowledged
    assert [e["status"] for _, e in history(store, job_id)] == ["queued", "failed"]
    assert not pipeline.svc.registry.for_job(job_id)
