"""The stage hand-off (domain/lua/hand_off.lua) against real Redis: everything a stage's exit
writes lands in one script or not at all, and twin or stale runs write nothing. The queue is in
the broker's database (`broker_r`), the job in Kiln's (`r`): one script writes both."""

from __future__ import annotations

import json

import pytest

from actors.sandbox.registry import SandboxRecord, SandboxRegistry
from domain.capacity import Capacity
from domain.handoff import Delivery, HandOff, Writes
from domain.settings import Settings
from domain.status import Status
from tests.support.store_reads import history
from tests.support.waiting import wait_for

Q = "test:q"


def _delivery(ack_id: str = "", send: str = "") -> Delivery:
    return Delivery(db=Settings.from_env().broker_db, queue=Q, messages=f"{Q}.msgs", unacked="test:acks.w1", ack_id=ack_id,
                    send_id=send and f"id-{send}", send_data=send)


@pytest.fixture
def handoff(store):
    return HandOff(store, SandboxRegistry(store.redis).key)


def _at(store, project, stage: Status, holder: str = "m1", **fields):
    job = store.create_job(project["project_id"], "user-1", "bootstrapper", "notes",
                           status=stage, holder=holder, **fields)
    return job.job_id


def _fetched(r, message_id: str) -> None:
    """As a worker's fetch leaves a message: in the unacked set and the messages hash."""
    r.sadd("test:acks.w1", message_id)
    r.hset(f"{Q}.msgs", message_id, "data")


def test_hand_off_writes_queues_the_next_message_and_acknowledges(store, broker_r, handoff,
                                                                  project):
    job_id = _at(store, project, Status.CODE)
    _fetched(broker_r, "cur")
    writes = Writes(fields={"files_written": 2}, files={"app.py": "print()", "é.txt": "ü"})
    res = handoff.next_stage(job_id, Status.CODE, "m1", writes, _delivery("cur", "next"))
    assert res.outcome == "handed_off" and res.acknowledged
    assert broker_r.lrange(Q, 0, -1) == ["id-next"]
    assert broker_r.hget(f"{Q}.msgs", "id-next") == "next"
    assert not broker_r.hexists(f"{Q}.msgs", "cur") and not broker_r.smembers("test:acks.w1")
    job = store.get_job(job_id)
    assert job.status == Status.CODE and job.files_written == 2
    assert store.files(job_id) == {"app.py": "print()", "é.txt": "ü"}


def test_a_twin_run_is_acknowledged_but_writes_and_sends_nothing(store, broker_r, handoff,
                                                                 project):
    job_id = _at(store, project, Status.STARTING)
    first = handoff.next_stage(job_id, Status.STARTING, "m1", Writes(claim=("", "sb-1")),
                               _delivery(send="scaffold"))
    assert first.outcome == "handed_off" and first.sandbox_id == "sb-1"
    # The same message run again (a frozen worker's copy): it learns the winner's sandbox.
    _fetched(broker_r, "copy")
    twin = handoff.next_stage(job_id, Status.STARTING, "m1", Writes(claim=("", "sb-2")),
                              _delivery("copy", "scaffold-again"))
    assert twin.outcome == "twin" and twin.acknowledged and twin.sandbox_id == "sb-1"
    assert broker_r.lrange(Q, 0, -1) == ["id-scaffold"]
    assert not broker_r.hexists(f"{Q}.msgs", "copy")
    assert store.get_job(job_id).sandbox_id == "sb-1"


def test_a_redelivery_replaces_the_dead_sandbox_it_saw(store, handoff, project):
    job_id = _at(store, project, Status.STARTING, sandbox_id="sb-dead")
    res = handoff.next_stage(job_id, Status.STARTING, "m1", Writes(claim=("sb-dead", "sb-new")),
                             _delivery(send="x"))
    assert res.sandbox_id == "sb-new" and store.get_job(job_id).sandbox_id == "sb-new"


@pytest.mark.parametrize("case", ["cancelled", "taken over", "moved on", "missing"])
def test_a_stale_run_writes_queues_and_acknowledges_nothing(store, broker_r, handoff, project,
                                                            case):
    job_id = _at(store, project, Status.CODE)
    if case == "cancelled":
        assert store.cancel(job_id, "Cancelled by user").ok
    elif case == "taken over":  # the watchdog gave the stage to a new message
        store.redis.hset(store.keys.job(job_id), "holder", "m2")
    elif case == "moved on":
        assert store.enter_stage(job_id, Status.DEPS, 1, 0, 3, "m3").outcome == "entered"
    else:
        job_id = "no-such-job"
    _fetched(broker_r, "cur")
    before = store.get_job(job_id)
    res = handoff.next_stage(job_id, Status.CODE, "m1",
                             Writes(fields={"files_written": 9}, files={"a": "b"}),
                             _delivery("cur", "next"))
    expected = {"cancelled": "cancelled", "missing": "missing"}.get(case, "moved")
    assert res.outcome == expected and not res.acknowledged
    assert broker_r.llen(Q) == 0 and broker_r.sismember("test:acks.w1", "cur")
    assert store.get_job(job_id) == before and store.files(job_id) == {}


def test_ready_finishes_the_build_and_admits_into_the_freed_slot(store, broker_r, handoff, r,
                                                                  project):
    capacity = Capacity(store, global_cap=1, env={}, duration_window=3)
    registry = SandboxRegistry(r)
    r.lpush(store.keys.build_durations(), "1000.0", "1000.0", "1000.0")  # earlier builds
    running = capacity.start(project["project_id"], "user-1", "partner", "first").job.job_id
    waiting = capacity.start(project["project_id"], "user-2", "partner", "second").job.job_id
    for stage in (Status.STARTING, Status.SCAFFOLD, Status.CODE, Status.DEPS, Status.CHECKS):
        assert store.enter_stage(running, stage, 1, 0, 3, "m-" + stage).outcome == "entered"
    store.update(running, Status.CHECKS, sandbox_id="sb-1")
    registry.register(SandboxRecord("sb-1", running, "local", "h", 1.0, 2.0))
    _fetched(broker_r, "cur")
    expires = store.clock.now() + 3600
    res = handoff.ready(store.get_job(running), "m-checks", Writes(fields={"preview_url": "http://p/"}),
                        _delivery("cur"), expires, capacity)
    assert res.outcome == "ready" and res.admitted == [(waiting, 1)]
    job = store.get_job(running)
    assert job.status == Status.READY and job.preview_url == "http://p/"
    assert job.build_version == "build_v0_1" and job.sandbox_expires_at == pytest.approx(expires)
    assert registry.get("sb-1").expires_at == pytest.approx(expires)
    newest, *kept = r.lrange(store.keys.build_durations(), 0, -1)  # the window: 3
    assert float(newest) < 1000 and kept == ["1000.0", "1000.0"]
    assert r.zrange(store.keys.live_global(), 0, -1) == [waiting]
    assert not broker_r.hexists(f"{Q}.msgs", "cur")
    ready_event = history(store, running)[-1][1]
    assert ready_event["status"] == "ready" and "holder" not in json.dumps(ready_event)
    assert "handed_off" not in ready_event


def test_the_brokers_layout_round_trips_through_a_real_consumer(store, handoff, r, broker_r,
                                                               redis_url):
    """Dramatiq's own consumer fetches what a hand-off queued, and finds the message that ran
    the stage acknowledged (its consumer then skips its own ack)."""
    from actors.broker import KilnRedisBroker
    from actors.consumer import mark_handed_off
    from domain.messages import QUEUE, stage_message
    from domain.redis_client import broker_client

    broker = KilnRedisBroker(client=broker_client(redis_url, Settings.from_env().broker_db),
                             middleware=[], namespace="kiln-test")
    for name in ("stage_code", "stage_deps"):
        broker.declare_actor(type("A", (), {"actor_name": name, "queue_name": QUEUE})())
    consumer = broker.consume(QUEUE, prefetch=1, timeout=50)
    broker.enqueue(stage_message(Status.CODE, "job-1"))
    current = wait_for(lambda: next(consumer), 10, message="the code message")
    job_id = _at(store, {"project_id": "p"}, Status.CODE, holder=current.message_id)
    res = handoff.next_stage(job_id, Status.CODE, current.message_id, Writes(),
                             broker.delivery(current, stage_message(Status.DEPS, job_id)))
    assert res.outcome == "handed_off"
    unacked = f"kiln-test:__acks__.{broker.broker_id}.{QUEUE}"
    assert not broker_r.smembers(unacked) and broker_r.hlen(f"kiln-test:{QUEUE}.msgs") == 1
    assert r.keys("kiln-test:*") == []  # nothing of the queue in Kiln's database
    mark_handed_off(current)
    consumer.ack(current)  # a no-op for Redis now
    sent = wait_for(lambda: next(consumer), 10, message="the deps message")
    assert (sent.actor_name, tuple(sent.args)) == ("stage_deps", (job_id, 1, 0))
    assert broker_r.smembers(unacked) == {sent.options["redis_message_id"]}
    consumer.close()


def test_a_hand_off_to_another_queue_leaves_the_ack_to_the_consumer(store, handoff, r,
                                                                     broker_r, redis_url):
    """The next message may go to another queue (a host's own, later): it lands there, and
    the message that ran the stage stays for its own consumer to acknowledge."""
    from actors.broker import KilnRedisBroker
    from domain.messages import QUEUE, stage_message
    from domain.redis_client import broker_client

    broker = KilnRedisBroker(client=broker_client(redis_url, Settings.from_env().broker_db),
                             middleware=[], namespace="kiln-test")
    for name in ("stage_code", "stage_deps"):
        broker.declare_actor(type("A", (), {"actor_name": name, "queue_name": QUEUE})())
    consumer = broker.consume(QUEUE, prefetch=1, timeout=50)
    broker.enqueue(stage_message(Status.CODE, "job-1"))
    current = next(m for m in consumer if m is not None)
    job_id = _at(store, {"project_id": "p"}, Status.CODE, holder=current.message_id)
    send = stage_message(Status.DEPS, job_id, queue="kiln.host.h1")
    delivery = broker.delivery(current, send)
    assert delivery.ack_id == ""  # not this script's to acknowledge
    res = handoff.next_stage(job_id, Status.CODE, current.message_id, Writes(), delivery)
    assert res.outcome == "handed_off"
    assert broker_r.lrange("kiln-test:kiln.host.h1", 0, -1) == [send.message_id]
    unacked = f"kiln-test:__acks__.{broker.broker_id}.{QUEUE}"
    assert broker_r.smembers(unacked) == {current.options["redis_message_id"]}
    consumer.ack(current)  # its consumer's own acknowledgement
    assert not broker_r.smembers(unacked)
    consumer.close()
