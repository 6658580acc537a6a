"""KilnRedisBroker (actors/broker.py): middleware hooks run as Dramatiq runs them (also hooks
set on a middleware instance), and `delivery`, the Redis layout a stage's hand-off writes the
next message and the acknowledgement into: exactly what Dramatiq's own enqueue writes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dramatiq.broker import MessageProxy
from dramatiq.message import Message
from dramatiq.middleware import Middleware

from actors.broker import KilnRedisBroker
from domain.messages import QUEUE, STAGE_ACTOR, stage_message
from domain.status import Status
from tests.support.direct import forget_direct_connection

NS = "kiln-test-hooks"


class Recording(Middleware):
    def __init__(self, name: str, calls: list[tuple[str, str]]) -> None:
        self.name, self.calls = name, calls

    def __repr__(self) -> str:
        return f"<{self.name}>"


class OnClass(Recording):
    def before_enqueue(self, broker, message, delay):
        assert isinstance(broker, KilnRedisBroker) and delay is None
        assert message.options["redis_message_id"]  # the copy enqueue writes
        self.calls.append((self.name, "before_enqueue"))

    def after_enqueue(self, broker, message, delay):
        self.calls.append((self.name, "after_enqueue"))


class OnInstance(Recording):
    """Its hooks are set on the instance, not defined on the class."""

    def __init__(self, name: str, calls: list[tuple[str, str]]) -> None:
        super().__init__(name, calls)
        self.before_enqueue = lambda broker, message, delay: calls.append((name, "before"))
        self.after_enqueue = lambda broker, message, delay: calls.append((name, "after"))


@pytest.fixture
def make_broker(redis_url, r) -> Iterator:
    made: list[KilnRedisBroker] = []

    def make(middleware: list[Middleware]) -> KilnRedisBroker:
        broker = KilnRedisBroker(url=redis_url, middleware=middleware, namespace=NS)
        made.append(broker)
        return broker

    yield make
    for broker in made:
        forget_direct_connection(broker.client)
        broker.client.close()


def _queued(r) -> int:
    return r.llen(f"{NS}:{QUEUE}")


def test_hooks_on_the_class_and_on_the_instance_run_in_dramatiqs_order(make_broker, r):
    calls: list[tuple[str, str]] = []
    broker = make_broker([OnClass("a", calls), OnInstance("i", calls)])
    broker.enqueue(stage_message(Status.CODE, "job-1"))
    assert calls == [("a", "before_enqueue"), ("i", "before"), ("i", "after"),
                     ("a", "after_enqueue")]
    assert _queued(r) == 1


# -- delivery --------------------------------------------------------------------------------

def _current(queue: str = QUEUE, rid: str = "rid-current") -> MessageProxy:
    message = stage_message(Status.CODE, "job-1").copy(queue_name=queue)
    return MessageProxy(message.copy(options={"redis_message_id": rid}))


def test_delivery_encodes_the_next_message_as_enqueue_would(make_broker):
    broker = make_broker([])
    send = stage_message(Status.DEPS, "job-1", attempt=2, iteration=1).copy(
        kwargs={"k": "v"}, options={"max_retries": 3})
    d = broker.delivery(_current(), send)
    assert d.send_id == send.message_id
    decoded = Message.decode(d.send_data.encode())
    assert decoded == send.copy(options={"redis_message_id": send.message_id})
    assert (decoded.actor_name, decoded.args) == ("stage_deps", ("job-1", 2, 1))
    assert decoded.options == {"max_retries": 3, "redis_message_id": send.message_id}
    assert send.options == {"max_retries": 3}  # the caller's message is left alone
    assert (d.queue, d.messages, d.unacked) == (
        f"{NS}:{QUEUE}", f"{NS}:{QUEUE}.msgs", f"{NS}:__acks__.{broker.broker_id}.{QUEUE}")
    assert d.ack_id == "rid-current"


def test_delivery_writes_byte_for_byte_what_dramatiqs_enqueue_writes(make_broker, r):
    broker = make_broker([])
    send = stage_message(Status.DEPS, "job-1", attempt=2, iteration=1)
    enqueued = broker.enqueue(send)  # Dramatiq's own enqueue, its own random Redis id
    redis_id = enqueued.options["redis_message_id"]
    stored = r.hget(f"{NS}:{QUEUE}.msgs", redis_id)
    d = broker.delivery(None, send)
    assert d.send_data == stored.replace(redis_id, d.send_id) and d.db == 0  # (a test broker)


@pytest.mark.parametrize(("current_queue", "send_queue", "queue", "ack_id"), [
    (QUEUE, QUEUE, QUEUE, "rid-current"),
    (QUEUE, "other", "other", ""),  # its own consumer acknowledges it
    (f"{QUEUE}.DQ", QUEUE, QUEUE, ""),
    (None, QUEUE, QUEUE, ""),
    (QUEUE, None, QUEUE, "rid-current"),
    ("other", None, "other", "rid-current"),
    (None, None, QUEUE, ""),
])
def test_delivery_acknowledges_only_a_message_on_the_same_queue(
        make_broker, current_queue, send_queue, queue, ack_id):
    broker = make_broker([])
    current = _current(current_queue) if current_queue else None
    send = stage_message(Status.DEPS, "job-1").copy(queue_name=send_queue) if send_queue else None
    d = broker.delivery(current, send)
    assert d.ack_id == ack_id
    assert (d.queue, d.messages) == (f"{NS}:{queue}", f"{NS}:{queue}.msgs")
    assert d.unacked == f"{NS}:__acks__.{broker.broker_id}.{queue}"
    if send is None:
        assert (d.send_id, d.send_data) == ("", "")


def test_delivery_names_the_keys_a_real_fetch_uses(make_broker, r):
    broker = make_broker([])
    for name in STAGE_ACTOR.values():
        broker.declare_actor(type("A", (), {"actor_name": name, "queue_name": QUEUE})())
    broker.enqueue(stage_message(Status.CODE, "job-1"))
    consumer = broker.consume(QUEUE, prefetch=1, timeout=50)
    try:
        current = next(m for m in consumer if m is not None)
        d = broker.delivery(current, None)
        assert d.ack_id == current.options["redis_message_id"]
        assert r.smembers(d.unacked) == {d.ack_id}
        assert r.hexists(d.messages, d.ack_id)
    finally:
        consumer.close()
