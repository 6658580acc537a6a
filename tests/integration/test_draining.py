"""A stopping worker takes nothing new (Draining, actors/consumer.py), and only that worker:
two Dramatiq workers on one broker in one process, one stopping while its stage runs, the
other goes on taking messages."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import dramatiq
import pytest
from dramatiq.middleware import CurrentMessage

from actors.broker import KilnRedisBroker
from actors.consumer import Draining
from domain.redis_client import broker_client
from domain.settings import Settings
from tests.support.direct import forget_direct_connection
from tests.support.waiting import wait_for


@pytest.fixture
def broker(redis_url, r) -> Iterator[KilnRedisBroker]:
    client = broker_client(redis_url, Settings.from_env().broker_db)
    broker = KilnRedisBroker(client=client, middleware=[CurrentMessage(), Draining()],
                             namespace="kiln-test-draining", idle_poll_ms=20)
    yield broker
    forget_direct_connection(broker.client)
    broker.client.close()


def test_stopping_one_worker_leaves_the_other_taking_messages(broker):
    release = threading.Event()
    ran: dict[str, threading.Thread] = {}

    def work(name: str) -> None:
        ran[name] = threading.current_thread()
        if name == "long":
            release.wait(30)  # a stage the stopping worker finishes first

    actor = dramatiq.actor(work, broker=broker, actor_name="work", queue_name="drain-q")
    first = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    second = None
    first.start()
    stopping = threading.Thread(target=first.stop, kwargs={"timeout": 30_000})
    try:
        actor.send("long")
        wait_for(lambda: "long" in ran, message="the first worker to start its stage")
        second = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
        second.start()
        stopping.start()
        wait_for(lambda: all(t.consumer.draining for t in first.consumers.values()),
                 message="the first worker to drain")
        actor.send("next")
        wait_for(lambda: "next" in ran, timeout=10, message="the second worker to take it")
        assert ran["next"] in second.workers and stopping.is_alive()
        assert not any(t.consumer.draining for t in second.consumers.values())
    finally:
        release.set()
        if stopping.is_alive():
            stopping.join(30)
        if second is not None:
            second.stop(timeout=10_000)
