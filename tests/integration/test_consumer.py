"""KilnConsumer (actors/consumer.py) on a real KilnRedisBroker: batch fetches under load, the
idle flag a send wakes, and acks a stage's hand-off already made in Redis."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from actors.broker import KilnRedisBroker
from actors.consumer import KilnConsumer, mark_handed_off
from domain.messages import QUEUE, STAGE_ACTOR, stage_message
from domain.status import Status
from tests.support.direct import forget_direct_connection
from tests.support.waiting import wait_for

NS = "kiln-test-consumer"
QUEUE_KEY = f"{NS}:{QUEUE}"
MESSAGES_KEY = f"{NS}:{QUEUE}.msgs"


@pytest.fixture
def broker(redis_url, r) -> Iterator[KilnRedisBroker]:
    broker = KilnRedisBroker(url=redis_url, middleware=[], namespace=NS)
    for name in STAGE_ACTOR.values():
        broker.declare_actor(type("A", (), {"actor_name": name, "queue_name": QUEUE})())
    yield broker
    forget_direct_connection(broker.client)
    broker.client.close()


@pytest.fixture
def consumer(broker) -> Iterator[KilnConsumer]:
    consumer = broker.consume(QUEUE, prefetch=4, timeout=50)
    assert isinstance(consumer, KilnConsumer)
    yield consumer
    consumer.close()


def _unacked(broker: KilnRedisBroker) -> str:
    return f"{NS}:__acks__.{broker.broker_id}.{QUEUE}"


def _send(broker: KilnRedisBroker, n: int) -> None:
    for i in range(n):
        broker.enqueue(stage_message(Status.CODE, f"job-{i}"))


def _next(consumer: KilnConsumer):
    """The consumer's next message (it returns None after each wait, as Dramatiq's does)."""
    return wait_for(lambda: next(consumer), timeout=5, message="a message")


def test_a_fetch_that_fills_every_slot_fetches_next_at_half_the_prefetch(broker, consumer, r):
    _send(broker, 5)
    first = _next(consumer)
    assert consumer.busy and consumer.fetch_at == 2  # 4 of 4 wanted: the queue has more
    assert r.llen(QUEUE_KEY) == 1 and consumer.outstanding_message_count == 4
    held = [first] + [next(consumer) for _ in range(3)]  # from the cache, no round trip
    assert all(held) and r.llen(QUEUE_KEY) == 1

    consumer.ack(held[0])  # 3 outstanding: above fetch_at, no fetch for one free slot
    assert consumer.outstanding_message_count == 3 and not consumer.wake.is_set()
    assert next(consumer) is None  # waited for free slots instead of fetching
    assert r.llen(QUEUE_KEY) == 1

    consumer.ack(held[1])  # 2 outstanding: half free, fetch now
    assert consumer.wake.is_set()
    fifth = next(consumer)
    assert fifth is not None and fifth.args[0] == "job-4" and r.llen(QUEUE_KEY) == 0
    # 1 of the 2 wanted: the queue ran dry, so fetch again as soon as one slot is free.
    assert not consumer.busy and not consumer.idle and consumer.fetch_at == 3
    assert consumer.outstanding_message_count == 3

    assert next(consumer) is None  # 3 outstanding <= 3: it fetched, and found nothing
    assert consumer.idle and not consumer.busy
    assert sorted(m.args[0] for m in held[2:] + [fifth]) == ["job-2", "job-3", "job-4"]


def test_an_empty_fetch_marks_it_idle_and_only_then_does_a_send_wake_it(broker, consumer):
    assert not consumer.idle
    assert next(consumer) is None
    assert consumer.idle and not consumer.wake.is_set()
    _send(broker, 1)
    assert consumer.wake.is_set()  # a send from this process ends its back-off
    message = next(consumer)
    assert message is not None and not consumer.idle
    # Not idle (it holds a message; the last fetch found one): a send does not wake it.
    assert not consumer.wake.is_set()
    _send(broker, 1)
    assert not consumer.wake.is_set()
    assert _next(consumer).args[0] == "job-0"


def test_a_handed_off_ack_frees_the_slot_and_leaves_redis_alone(broker, consumer, r):
    _send(broker, 2)
    handed_off = _next(consumer)
    plain = next(consumer)
    assert plain is not None and consumer.outstanding_message_count == 2
    ids = {handed_off.options["redis_message_id"], plain.options["redis_message_id"]}
    assert r.smembers(_unacked(broker)) == ids and set(r.hkeys(MESSAGES_KEY)) == ids
    before = (r.smembers(_unacked(broker)), r.hgetall(MESSAGES_KEY))

    mark_handed_off(handed_off)
    consumer.ack(handed_off)  # the hand-off's script acknowledged it already
    assert (r.smembers(_unacked(broker)), r.hgetall(MESSAGES_KEY)) == before
    assert consumer.outstanding_message_count == 1
    assert handed_off.message_id not in consumer.queued_message_ids
    assert consumer.wake.is_set()  # a freed slot still tells the consumer

    consumer.ack(plain)  # an ordinary ack removes it from Redis
    rid = plain.options["redis_message_id"]
    assert rid not in r.smembers(_unacked(broker)) and not r.hexists(MESSAGES_KEY, rid)
    assert r.smembers(_unacked(broker)) == {handed_off.options["redis_message_id"]}
    assert consumer.outstanding_message_count == 0


def test_a_stopping_worker_takes_nothing_new_but_keeps_its_heartbeat(broker, consumer, r):
    from actors.consumer import Draining

    _send(broker, 2)
    first = _next(consumer)  # fetched with its sibling, which waits in the consumer's cache
    assert first is not None and len(consumer.message_cache) == 1
    thread = threading.Thread()  # stands in for the worker's consumer thread
    thread.consumer = consumer
    Draining().before_worker_shutdown(broker, SimpleNamespace(consumers={QUEUE: thread}))
    r.zrem(f"{NS}:__heartbeats__", broker.broker_id)
    _send(broker, 1)
    # Idle worker threads would start anything handed out now: nothing is.
    assert all(consumer.__next__() is None for _ in range(3))
    assert r.llen(QUEUE_KEY) == 1 and len(consumer.message_cache) == 1
    assert r.zscore(f"{NS}:__heartbeats__", broker.broker_id) is not None
    consumer.close()  # the cached sibling goes back on the queue at once
    assert r.llen(QUEUE_KEY) == 2 and r.scard(_unacked(broker)) == 1  # only `first` is held
