"""The per-host pieces against a real Redis: queue names, heartbeats, the move of a lost host's
job to the shared queue (domain/lua/host_lost.lua), its old messages dropped at entry, and the
watchdog looking for a next message on the queue it went to."""

from __future__ import annotations

import pytest

from actors.sandbox.registry import SandboxRegistry
from domain.handoff import Delivery, HandOff, Writes
from domain.hosts import Hosts, host_queue, queue_for
from domain.messages import QUEUE
from domain.settings import Settings
from domain.status import Status
from domain.store import JobStore


def test_host_queue_names_are_dramatiq_queue_names_and_distinct():
    import dramatiq
    from dramatiq.brokers.stub import StubBroker

    broker = StubBroker()
    assert host_queue("worker-1") == "kiln.host.worker-1"
    assert queue_for("worker-1") == "kiln.host.worker-1" and queue_for("") == QUEUE
    odd = [host_queue("a b"), host_queue("a/b"), host_queue("a_b")]
    assert len(set(odd)) == 3  # replaced characters never make two hosts share a queue
    for name in odd:  # Dramatiq refuses an actor on a queue name it does not accept
        dramatiq.actor(lambda: None, queue_name=name, broker=broker,
                       actor_name=f"probe_{abs(hash(name))}")
    with pytest.raises(ValueError):
        host_queue("")


@pytest.fixture
def store(r):
    return JobStore(r, prefix="kiln", stage_deadline_s=30, lease_s=90)


@pytest.fixture
def hosts(store):
    return Hosts(store)


def _queue(name: str, send_id: str = "", data: str = "") -> Delivery:
    full = f"test:{name}"
    return Delivery(db=Settings.from_env().broker_db, queue=full, messages=f"{full}.msgs",
                    unacked="test:acks.w1", send_id=send_id, send_data=data)


def _on_host(store, project, host: str = "h1", handed_off: bool = True) -> str:
    """A job in `code` (entered by message m-code) whose sandbox is on `host`; handed off:
    its `deps` message m-deps waits on the host's queue."""
    job = store.create_job(project["project_id"], "user-1", "partner", "notes",
                           status=Status.SCAFFOLD)
    assert store.enter_stage(job.job_id, Status.CODE, 1, 0, 3, "m-code").outcome == "entered"
    assert store.update(job.job_id, Status.CODE, sandbox_id="sb-1", sandbox_host=host)
    if handed_off:
        handoff = HandOff(store, SandboxRegistry(store.redis).key)
        res = handoff.next_stage(job.job_id, Status.CODE, "m-code",
                                 Writes(fields={"next_queue": host_queue(host)}),
                                 _queue(host_queue(host), "m-deps", "deps-message"))
        assert res.outcome == "handed_off"
    return job.job_id


def test_heartbeats_say_which_hosts_are_alive(hosts, store):
    hosts.beat("h1", 30)
    assert hosts.alive(["h1", "h2"]) == {"h1"} and hosts.alive([]) == set()
    assert 0 < store.redis.pttl(store.keys.host("h1")) <= 30_000


def test_a_host_that_stops_beating_is_lost_until_forgotten_or_back(hosts, store):
    hosts.beat("h1", 30)
    hosts.beat("h2", 30)
    assert hosts.lost() == set()  # every known host alive: the sweep reads no job
    store.redis.delete(store.keys.host("h1"))
    assert hosts.lost() == {"h1"}
    hosts.forget({"h1"})  # its jobs moved: no longer looked at
    assert hosts.lost() == set()
    hosts.beat("h1", 30)
    store.redis.delete(store.keys.host("h1"))
    assert hosts.lost() == {"h1"}  # back once, known again


def test_a_waiting_job_of_a_lost_host_gets_its_next_message_again_on_the_shared_queue(
        hosts, store, project, broker_r):
    job_id = _on_host(store, project)
    shared = _queue(QUEUE, "m-new")
    outcome = hosts.move_off(store.get_job(job_id), "h1", shared, "deps-again", "code-again")
    assert outcome == "resent"
    job = store.get_job(job_id)
    assert (job.next_message, job.next_queue, job.sandbox_host) == ("m-new", QUEUE, None)
    assert broker_r.lrange(shared.queue, 0, -1) == ["m-new"]
    assert broker_r.hget(shared.messages, "m-new") == "deps-again"
    # The new message enters deps; the old one, should its host come back, is a duplicate.
    assert store.enter_stage(job_id, Status.DEPS, 1, 0, 3, "m-new").outcome == "entered"
    assert store.enter_stage(job_id, Status.DEPS, 1, 0, 3, "m-deps").outcome == "duplicate"
    # Moved once: the job no longer names the host.
    assert hosts.move_off(store.get_job(job_id), "h1", _queue(QUEUE, "m-3"), "x", "y") \
        == "moved"


def test_a_running_job_of_a_lost_host_is_taken_over_and_its_old_run_dropped(hosts, store,
                                                                            project, broker_r):
    job_id = _on_host(store, project, handed_off=False)
    shared = _queue(QUEUE, "m-new")
    assert hosts.move_off(store.get_job(job_id), "h1", shared, "deps", "code-again") \
        == "taken_over"
    assert broker_r.hget(shared.messages, "m-new") == "code-again"
    assert store.enter_stage(job_id, Status.CODE, 1, 0, 3, "m-new").outcome == "resumed"
    assert store.enter_stage(job_id, Status.CODE, 1, 0, 3, "m-code").outcome == "duplicate"


def test_a_live_host_or_a_finished_job_is_left_alone(hosts, store, project, broker_r):
    job_id = _on_host(store, project)
    hosts.beat("h1", 30)
    shared = _queue(QUEUE, "m-new")
    assert hosts.move_off(store.get_job(job_id), "h1", shared, "a", "b") == "alive"
    store.redis.delete(store.keys.host("h1"))
    job = store.get_job(job_id)
    assert store.transition(job_id, Status.FAILED, error_code="x").ok
    assert hosts.move_off(job, "h1", shared, "a", "b") == "moved"
    assert broker_r.llen(shared.queue) == 0
    assert store.get_job(job_id).sandbox_host == "h1"


def test_the_watchdog_looks_for_a_next_message_on_the_queue_it_went_to(store, project):
    job_id = _on_host(store, project)
    job = store.get_job(job_id)
    takeover = _queue(QUEUE, "m-takeover", "code-again")
    resend = _queue(host_queue("h1"), "m-deps", "deps-message")
    # Still on the host's queue: waiting (looking on the shared queue would take it for lost).
    assert store.redrive(job, 5, takeover, resend) == "waiting"
