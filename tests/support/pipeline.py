"""The `pipeline` fixture (tests/pipeline and tests/ops): the actors' broker on the test Redis,
a `dramatiq.Worker` with real threads, real local sandboxes and the template generator."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import dramatiq
import pytest
from dramatiq.errors import QueueJoinTimeout

from domain.messages import QUEUE, send_stage
from domain.settings import Settings
from domain.status import Status
from tests.support.waiting import wait_for

_booted = False


@dataclass
class Pipeline:
    svc: object
    worker: dramatiq.Worker

    def start(self, goal: str = "a todo app with due dates", tier: str = "partner",
              user: str = "user-1", project_id: str | None = None) -> str:
        store = self.svc.store
        if project_id is None:
            project_id = store.create_project(user, "Test project")["project_id"]
        decision = self.svc.capacity.start(project_id, user, tier, goal)
        for job_id, attempt in decision.admitted:
            send_stage(self.svc.broker, Status.STARTING, job_id, attempt)
        return decision.job.job_id

    def wait_terminal(self, job_id: str, timeout: float = 60.0):
        store = self.svc.store
        return wait_for(lambda: (j := store.get_job(job_id)) and j.terminal and j,
                        timeout, message=f"job {job_id} to finish")

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until every message sent so far has been processed and acknowledged, with a
        deadline (Dramatiq's `Worker.join()` has none, and returns at once for a message it
        has not fetched yet)."""
        try:  # the queue and its delay queue, fetched or not, in Redis
            self.svc.broker.join(QUEUE, timeout=int(timeout * 1000))
        except QueueJoinTimeout:
            raise AssertionError(f"messages still on {QUEUE} after {timeout} s") from None
        joiner = threading.Thread(target=self.worker.join, daemon=True)
        joiner.start()  # then the worker's threads finish what they hold
        joiner.join(timeout)
        assert not joiner.is_alive(), f"the worker still busy {timeout} s after its queue emptied"

    def use(self, **parts: object) -> None:
        from actors import context

        self.svc = dataclasses.replace(self.svc, **parts)
        context.install(self.svc)


@pytest.fixture
def pipeline(r, redis_url, tmp_path) -> Iterator[Pipeline]:
    global _booted
    import actors
    from actors import context, telemetry_writer

    settings = dataclasses.replace(Settings.from_env(), redis_url=redis_url,
                                   sandbox_root=tmp_path / "sandboxes", preview_wait_s=10.0)
    svc = context.build(settings, actors.broker)
    context.install(svc)
    if not _booted:  # time limits only fire once process_boot has been emitted (FIELD-NOTES)
        actors.broker.emit_after("process_boot")
        _booted = True
    worker = dramatiq.Worker(actors.broker, worker_threads=4, worker_timeout=100)
    worker.start()
    pipe = Pipeline(svc, worker)
    try:
        yield pipe
    finally:
        worker.stop(timeout=10_000)
        # Workers write their summed metrics once a second: this test's must land in its own
        # database, not in the next test's after it has been flushed.
        telemetry_writer.writer.flush()
        for record in pipe.svc.registry.all():
            pipe.svc.runtime.kill(record.sandbox_id)
        context.install(None)
