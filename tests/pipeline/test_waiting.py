"""Waiting is not stuck, against real workers and sandboxes: a lost next message is sent again
by the watchdog (its finished stage is not run again), `starting` creates a second sandbox
only when the first is really gone, and stage messages' queue waits are measured."""

from __future__ import annotations

from actors import housekeeping
from domain.errors import TransientError
from domain.handoff import Delivery, Writes
from domain.messages import stage_message
from domain.status import Status
from domain.telemetry import Telemetry
from tests.support.store_reads import history
from tests.support.waiting import wait_for


def _admitted(pipeline, holder: str) -> str:
    """A job admitted and entered at `starting` by the message `holder` (never sent)."""
    svc = pipeline.svc
    project_id = svc.store.create_project("user-1", "Waiting")["project_id"]
    job_id = svc.capacity.start(project_id, "user-1", "partner", "a todo app").job.job_id
    assert svc.store.enter_stage(job_id, Status.STARTING, 1, 0, 5, holder).outcome == "entered"
    return job_id


def test_a_lost_next_message_is_sent_again_and_the_build_finishes(pipeline):
    svc = pipeline.svc
    job_id = _admitted(pipeline, "m-start")
    sandbox = svc.runtime.create(job_id, {"kiln_job_id": job_id}, timeout_s=600)
    # `starting` handed off, but its scaffold message never reached the queue.
    nowhere = Delivery(db=svc.broker.db, queue="lost:q", messages="lost:q.msgs",
                       unacked="lost:acks", send_id="m-scaffold", send_data="lost")
    res = svc.handoff.next_stage(job_id, Status.STARTING, "m-start",
                                 Writes(claim=("", sandbox.id)), nowhere)
    assert res.outcome == "handed_off"
    svc.store.redis.zadd(svc.store.keys.active(), {job_id: 0})  # its deadline passed
    assert housekeeping.watchdog(svc) == 1
    job = pipeline.wait_terminal(job_id)
    assert job.status == Status.READY, job.error_detail
    assert job.sandbox_id == sandbox.id and job.redrives == 1  # starting did not run again
    assert [r.sandbox_id for r in svc.registry.for_job(job_id)] == [sandbox.id]
    statuses = [e["status"] for _, e in history(svc.store, job_id)]
    assert statuses == ["queued", "starting", "scaffold", "code", "deps", "checks", "ready"]
    redrives = Telemetry(svc.store.redis).snapshot().counters["watchdog_redrives"]
    assert redrives == {("starting", "resent"): 1}


class BlipOnConnect:
    """The runtime, with its first reconnect failing as a control-plane blip (e2b's 5xx or
    timeout): a transient error, not a sandbox that is gone."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.blips = 1

    def connect(self, sandbox_id: str):
        if self.blips:
            self.blips -= 1
            raise TransientError("e2b unavailable (connect): TimeoutException")
        return self.inner.connect(sandbox_id)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def test_starting_keeps_its_sandbox_through_a_reconnect_blip(pipeline):
    svc = pipeline.svc
    job_id = _admitted(pipeline, "m-start")
    sandbox = svc.runtime.create(job_id, {"kiln_job_id": job_id}, timeout_s=600)
    assert svc.store.update(job_id, Status.STARTING, sandbox_id=sandbox.id)
    pipeline.use(runtime=BlipOnConnect(svc.runtime))
    # The message that holds `starting` comes back (its worker died after the sandbox existed).
    message = stage_message(Status.STARTING, job_id).copy(message_id="m-start")
    pipeline.svc.broker.enqueue(message)
    job = pipeline.wait_terminal(job_id)
    assert job.status == Status.READY, job.error_detail
    assert pipeline.svc.runtime.blips == 0  # the blip happened, and was retried
    assert job.sandbox_id == sandbox.id
    assert [r.sandbox_id for r in svc.registry.for_job(job_id)] == [sandbox.id]


def test_each_stage_message_reports_its_queue_wait(pipeline):
    from actors import telemetry_writer

    job = pipeline.wait_terminal(pipeline.start())
    assert job.status == Status.READY
    telemetry_writer.writer.flush()
    waits = Telemetry(pipeline.svc.store.redis).snapshot().queue_waits
    assert set(waits) == {"starting", "scaffold", "code", "deps", "checks"}
    for buckets, total in waits.values():
        assert dict(buckets)["+Inf"] == 1 and 0 <= total < 30


def test_the_watchdog_leaves_a_job_waiting_for_a_worker_alone(pipeline):
    svc = pipeline.svc
    job_id = _admitted(pipeline, "m-start")
    sandbox = svc.runtime.create(job_id, {"kiln_job_id": job_id}, timeout_s=600)
    # Handed off with its scaffold message waiting in the queue (no worker took it yet).
    pipeline.worker.pause()
    try:
        send = stage_message(Status.SCAFFOLD, job_id)
        res = svc.handoff.next_stage(job_id, Status.STARTING, "m-start",
                                     Writes(claim=("", sandbox.id)),
                                     svc.broker.delivery(None, send))
        assert res.outcome == "handed_off"
        svc.store.redis.zadd(svc.store.keys.active(), {job_id: 0})
        assert housekeeping.watchdog(svc) == 0
        waiting = svc.store.get_job(job_id)
        assert waiting.status == Status.STARTING and waiting.redrives == 0  # still in the queue
        deadline = svc.store.redis.zscore(svc.store.keys.active(), job_id)
        assert deadline > svc.store.clock.now()  # looked at again one deadline later
    finally:
        pipeline.worker.resume()
    job = pipeline.wait_terminal(job_id)
    assert job.status == Status.READY and job.redrives == 0
    wait_for(lambda: not svc.store.redis.zscore(svc.store.keys.active(), job_id), 5,
             message="the job to leave the watchdog's index")
