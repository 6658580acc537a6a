"""An upgrade with builds in flight: a database written in the older layout (Dramatiq's keys in
Kiln's database, job and project keys without hash tags) holding an admitted build whose
`starting` message waits in the old queue and a build handed off mid-pipeline with a live
sandbox, next to a finished version of the same project. bin/migrate, then real workers: both
builds finish, and the project's version numbers carry on."""

from __future__ import annotations

import dataclasses

import pytest

from actors.sandbox import get_runtime
from bin.support.migrate import migrate
from domain.capacity import Capacity
from domain.handoff import Delivery, HandOff, Writes
from domain.keys import Keys
from domain.messages import QUEUE, stage_message
from domain.redis_client import database
from domain.settings import Settings
from domain.status import Status
from tests.ops.conftest import kill_sandboxes
from tests.support.waiting import wait_for
from tests.support.workers import WorkerProcesses, worker_env


def _old_queue(redis_url: str) -> Delivery:
    """Dramatiq's keys where an older Kiln kept them: in Kiln's own database."""
    full = f"dramatiq:{QUEUE}"
    return Delivery(db=database(redis_url), queue=full, messages=f"{full}.msgs",
                    unacked=f"dramatiq:__acks__.gone.{QUEUE}")


def _send_old(r, delivery: Delivery, stage: Status, job_id: str) -> None:
    message = stage_message(stage, job_id)
    message = message.copy(options={"redis_message_id": message.message_id})
    r.hset(delivery.messages, message.message_id, message.encode())
    r.rpush(delivery.queue, message.message_id)


def _untag(r) -> int:
    """Today's job and project names back to the older ones (`kiln:job:<id>...`)."""
    renamed = 0
    for key in r.keys("kiln:job:{*") + r.keys("kiln:project:{*"):
        r.rename(key, key.replace("{", "", 1).replace("}", "", 1))
        renamed += 1
    return renamed


@pytest.fixture
def settings(redis_url, tmp_path) -> Settings:
    return dataclasses.replace(Settings.from_env(), redis_url=redis_url,
                               sandbox_root=tmp_path / "sandboxes")


def test_builds_in_flight_finish_after_the_migration(settings, store, r, broker_r, tmp_path):
    capacity = Capacity(store)
    project = store.create_project("user-1", "Upgrade")["project_id"]
    # A finished version of the project, from before the upgrade.
    done = store.create_job(project, "user-1", "partner", "a todo app", status=Status.CHECKS)
    assert store.transition(done.job_id, Status.READY).ok
    old = _old_queue(settings.redis_url)
    # Admitted, its `starting` message waiting in the old queue.
    waiting = capacity.start(project, "user-1", "partner", "a todo app").job.job_id
    _send_old(r, old, Status.STARTING, waiting)
    # Handed off by `starting` (its sandbox is up) to `scaffold`, whose message waits there too.
    moving = capacity.start(project, "user-1", "partner", "a notes app").job.job_id
    assert store.enter_stage(moving, Status.STARTING, 1, 0, 5, "m-start").outcome == "entered"
    runtime = get_runtime(settings, store.redis)
    sandbox = runtime.create(moving, {"kiln_job_id": moving}, timeout_s=600)
    message = stage_message(Status.SCAFFOLD, moving)
    send = dataclasses.replace(old, send_id=message.message_id, send_data=message.copy(
        options={"redis_message_id": message.message_id}).encode().decode())
    handoff = HandOff(store, Keys().sandboxes())
    assert handoff.next_stage(moving, Status.STARTING, "m-start",
                              Writes(claim=("", sandbox.id)), send).outcome == "handed_off"
    assert _untag(r) >= 10 and store.get_job(waiting) is None  # the older layout, as left
    assert broker_r.keys("*") == [] and r.llen(old.queue) == 2

    lines = migrate(settings).lines()
    assert lines[0].startswith("moved 2 Dramatiq key(s)") and lines[1].startswith("renamed")
    workers = WorkerProcesses(worker_env(settings.redis_url, settings.sandbox_root),
                              processes=1, threads=2).start()
    try:
        jobs = [wait_for(lambda j=job_id: (job := store.get_job(j)) and job.terminal and job,
                         90, message=f"{job_id} to finish") for job_id in (waiting, moving)]
    finally:
        workers.stop()
        kill_sandboxes(settings.redis_url, settings.sandbox_root)
    assert [j.status for j in jobs] == [Status.READY, Status.READY], [j.error_detail
                                                                       for j in jobs]
    assert jobs[1].sandbox_id == sandbox.id  # its stage was not run again on a new sandbox
    assert sorted(j.build_version for j in jobs) == ["build_v0_2", "build_v0_3"]
    assert r.keys("dramatiq:*") == []
