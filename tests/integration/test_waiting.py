"""Waiting is not stuck (domain/lua/enter_stage.lua, hand_off_lib.lua, redrive.lua) against real
Redis: the watchdog's deadline covers a stage while it runs; a job whose message waits for a
worker is left alone while that message exists; a lost next message is sent again (the
finished stage never runs again); a redelivered message whose stage handed off is a twin."""

from __future__ import annotations

import json

import pytest

from actors.sandbox.registry import SandboxRegistry
from domain.handoff import Delivery, HandOff, Writes
from domain.settings import Settings
from domain.status import Status
from domain.store import JobStore
from tests.support.store_reads import history

Q = "test:kiln"
MSGS = f"{Q}.msgs"
DEADLINE, LEASE = 30, 90


@pytest.fixture
def store(r):
    return JobStore(r, prefix="kiln", stage_deadline_s=DEADLINE, lease_s=LEASE)


@pytest.fixture
def handoff(store):
    return HandOff(store, SandboxRegistry(store.redis).key)


def _delivery(send_id: str = "", data: str = "", ack: str = "") -> Delivery:
    return Delivery(db=Settings.from_env().broker_db, queue=Q, messages=MSGS,
                    unacked="test:acks.w1", ack_id=ack, send_id=send_id, send_data=data)


def _at_code(store, project, holder: str = "m-code"):
    """A job that entered `code` with message `holder`."""
    job = store.create_job(project["project_id"], "user-1", "partner", "notes",
                           status=Status.SCAFFOLD)
    assert store.enter_stage(job.job_id, Status.CODE, 1, 0, 3, holder).outcome == "entered"
    return job.job_id


def _handed_off(store, handoff, project, next_id: str = "m-deps"):
    job_id = _at_code(store, project)
    res = handoff.next_stage(job_id, Status.CODE, "m-code", Writes(files={"app.py": "x"}),
                             _delivery(next_id, "deps-message"))
    assert res.outcome == "handed_off"
    return job_id


def _watch(store, job_id: str, resend_id: str = "", takeover_id: str = "m-new"):
    job = store.get_job(job_id)
    resend = _delivery(resend_id, "deps-message") if resend_id else None
    return store.redrive(job, 5, _delivery(takeover_id, "takeover-message"), resend)


def _deadline(store, job_id: str) -> float:
    return store.redis.zscore(store.keys.active(), job_id)


def test_entry_and_hand_off_renew_the_sandbox_lease(store, handoff, project):
    job_id = _at_code(store, project)
    entered = store.get_job(job_id)
    assert entered.lease_until == pytest.approx(store.clock.now() + LEASE, abs=2)
    store.redis.hset(store.keys.job(job_id), "lease_until", "1")  # long ago
    _ = handoff.next_stage(job_id, Status.CODE, "m-code", Writes(), _delivery("m-deps", "d"))
    job = store.get_job(job_id)
    assert job.lease_until == pytest.approx(store.clock.now() + LEASE, abs=2)
    assert (job.handed_off, job.next_message) == ("code:m-code", "m-deps")


def test_a_job_whose_next_message_waits_is_not_stalled(broker_r, store, handoff, r, project):
    job_id = _handed_off(store, handoff, project)
    r.zadd(store.keys.active(), {job_id: 0})  # the deadline passed while the message waited
    r.hset(store.keys.job(job_id), "lease_until", "1")
    assert _watch(store, job_id, resend_id="m-deps") == "waiting"
    assert broker_r.lrange(Q, 0, -1) == ["m-deps"]  # nothing re-sent, nothing re-run
    assert _deadline(store, job_id) == pytest.approx(store.clock.now() + DEADLINE, abs=2)
    job = store.get_job(job_id)
    assert job.redrives == 0 and job.lease_until > store.clock.now() + LEASE - 2
    assert job.status == Status.CODE and job.handed_off == "code:m-code"


def test_a_lost_next_message_is_sent_again_not_its_stage(broker_r, store, handoff, r, project):
    job_id = _handed_off(store, handoff, project)
    broker_r.delete(Q, MSGS)  # the deps message vanished (an operator, a lost write)
    r.zadd(store.keys.active(), {job_id: 0})
    assert _watch(store, job_id, resend_id="m-deps") == "resent"
    assert broker_r.lrange(Q, 0, -1) == ["m-deps"] and broker_r.hget(MSGS, "m-deps") == "deps-message"
    job = store.get_job(job_id)
    assert job.redrives == 1 and job.status == Status.CODE
    assert store.files(job_id) == {"app.py": "x"}  # what code made stays; code is not re-run
    # The re-sent message enters deps as the original would have.
    assert store.enter_stage(job_id, Status.DEPS, 1, 0, 3, "m-deps").outcome == "entered"


def test_a_resend_for_another_message_than_the_job_holds_waits(broker_r, store, handoff, r,
                                                                project):
    job_id = _handed_off(store, handoff, project)
    broker_r.delete(Q, MSGS)
    r.zadd(store.keys.active(), {job_id: 0})
    assert _watch(store, job_id, resend_id="m-stale") == "waiting"
    assert broker_r.llen(Q) == 0


def test_a_redelivered_message_whose_stage_handed_off_is_a_twin(store, handoff, project):
    job_id = _handed_off(store, handoff, project)
    entry = store.enter_stage(job_id, Status.CODE, 1, 0, 3, "m-code")
    assert entry.outcome == "twin"
    assert store.get_job(job_id).deliveries == 1 and store.get_job(job_id).redeliveries == 0


def test_a_running_stage_past_its_deadline_is_taken_over(broker_r, store, r, project):
    job_id = _at_code(store, project)
    r.zadd(store.keys.active(), {job_id: 0})
    assert _watch(store, job_id) == "ok"
    job = store.get_job(job_id)
    assert job.redrives == 1 and job.deliveries == 0
    assert r.hget(store.keys.job(job_id), "holder") == "m-new"
    # The take-over's message is queued under its own id: a later look can find it.
    assert broker_r.lrange(Q, 0, -1) == ["m-new"] and broker_r.hget(MSGS, "m-new") == "takeover-message"
    # While it waits for a worker, the job is waiting, not stalled again.
    r.zadd(store.keys.active(), {job_id: 0})
    assert _watch(store, job_id, takeover_id="m-newer") == "waiting"
    assert store.get_job(job_id).redrives == 1


def test_a_crashed_workers_message_back_on_the_queue_is_waiting(broker_r, store, r, project):
    job_id = _at_code(store, project)
    # Dramatiq's maintenance put the message back on the queue after its worker died.
    broker_r.hset(MSGS, "m-code", "code-message")
    broker_r.rpush(Q, "other", "m-code")
    r.zadd(store.keys.active(), {job_id: 0})
    assert _watch(store, job_id) == "waiting"
    # Held by a worker (fetched, out of the list) and past the deadline: a stuck call.
    broker_r.lrem(Q, 0, "m-code")
    assert _watch(store, job_id) == "ok"


def test_the_redrive_budget_still_bounds_lost_messages(broker_r, store, handoff, r, project):
    job_id = _handed_off(store, handoff, project)
    r.hset(store.keys.job(job_id), "redrives", 5)
    broker_r.delete(Q, MSGS)
    assert _watch(store, job_id, resend_id="m-deps") == "exhausted"
    assert broker_r.llen(Q) == 0


def test_replacing_a_sandbox_is_a_compare_and_set(store, project):
    job_id = _at_code(store, project)
    store.redis.hset(store.keys.job(job_id), "sandbox_id", "sb-1")
    assert store.replace_sandbox(job_id, Status.CODE, "m-code", "sb-1", "sb-2", 2) == \
        ("replaced", "sb-2")
    job = store.get_job(job_id)
    assert (job.sandbox_id, job.sandbox_replacements) == ("sb-2", 1)
    # A twin run that saw sb-1 gone too learns the winner's.
    assert store.replace_sandbox(job_id, Status.CODE, "m-code", "sb-1", "sb-3", 2) == \
        ("raced", "sb-2")
    assert store.replace_sandbox(job_id, Status.CODE, "other", "sb-2", "sb-3", 2)[0] == "moved"
    assert store.replace_sandbox(job_id, Status.CODE, "m-code", "sb-2", "sb-3", 1) == \
        ("exhausted", "sb-2")
    assert store.cancel(job_id, "Cancelled by user").ok
    assert store.replace_sandbox(job_id, Status.CODE, "m-code", "sb-2", "sb-3", 2)[0] == \
        "cancelled"
    assert store.get_job(job_id).sandbox_id == "sb-2"


def test_hand_off_marks_are_not_shown_in_events(store, handoff, project):
    job_id = _handed_off(store, handoff, project)
    text = json.dumps(history(store, job_id))
    assert "handed_off" not in text and "lease_until" not in text and "m-deps" not in text
