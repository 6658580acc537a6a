"""Errors are caught where a specific one is meant, and validation raises instead of asserting:
a stage's cancel poll turns a lost Redis connection into "cannot tell now" (and nothing else);
a sandbox lease renewal shrugs off the provider's errors but not a bug; a counter with unknown
labels and a status written around the state machine are refused."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from actors import leases
from actors.stage import StageContext
from domain.errors import TransientError
from domain.job import Job
from domain.redis_client import connect
from domain.status import Status
from domain.store import JobStore
from domain.telemetry import counter
from tests.support.clock import FixedClock

DOWN = "redis://127.0.0.1:1/0"  # nothing listens there


def _ctx(store: JobStore) -> StageContext:
    job = Job.from_redis({"job_id": "0" * 32, "project_id": "p", "user_id": "u", "tier": "partner",
                          "goal": "g", "status": "code", "attempt": "1", "iteration": "0",
                          "created_at": "1", "updated_at": "1", "stage_started_at": "1",
                          "debug_id": "dbg_1"})
    return StageContext(job, Status.CODE, SimpleNamespace(store=store))


def test_the_cancel_poll_reads_a_lost_redis_as_cannot_tell_now():
    ctx = _ctx(JobStore(connect(DOWN, socket_connect_timeout=0.5)))
    with pytest.raises(TransientError, match="cannot be read now"):
        ctx.cancel_poll()


def test_the_cancel_poll_answers_from_redis(r):
    store = JobStore(r)
    ctx = _ctx(store)
    assert ctx.cancel_poll() is False
    r.set(store.keys.cancel(ctx.job.job_id), "1")
    assert ctx.cancel_poll() is True


class Provider:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def extend(self, sandbox_id: str, until: float) -> None:
        raise self.error


def _svc(error: BaseException) -> SimpleNamespace:
    return SimpleNamespace(runtime=Provider(error), settings=SimpleNamespace(lease_s=600),
                           store=SimpleNamespace(clock=FixedClock(1000.0)))


def test_a_lease_renewal_shrugs_off_the_providers_errors_not_a_bug():
    leases.renew(_svc(TransientError("e2b unavailable")), "sb-1", until=2000.0)  # no raise
    with pytest.raises(AttributeError):
        leases.renew(_svc(AttributeError("a bug")), "sb-2", until=2000.0)


def test_an_unknown_counter_or_label_count_is_refused():
    assert counter("stage_cancels", "code") == [("stage_cancels|code", 1)]
    with pytest.raises(ValueError):
        counter("no_such_metric", "code")
    with pytest.raises(ValueError):
        counter("stage_cancels", "code", "extra")


def test_a_status_is_never_written_around_the_state_machine(store, project):
    job = store.create_job(project["project_id"], "user-1", "partner", "g", status=Status.CODE)
    with pytest.raises(ValueError, match="transition"):
        store.update(job.job_id, Status.CODE, status="ready")
    assert store.get_job(job.job_id).status == Status.CODE
