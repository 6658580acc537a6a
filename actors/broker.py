"""The Dramatiq broker every worker process and test worker uses.

Crash recovery: a message held by a SIGKILLed worker returns when a maintenance roll finds the
dead worker's heartbeat older than `heartbeat_timeout`. Dramatiq's defaults (60 s, 1-in-1000
rolls) take 5-12 minutes; Kiln's (15 s, 1-in-10 rolls) take ~20 s. Lower means a worker frozen
for longer than the timeout loses its messages and they run twice: stages are idempotent and
deliveries are counted, so that costs time, not correctness.

What Kiln mirrors of Dramatiq's Redis broker (pinned to 2.2.x; tests/unit/test_upstream.py
fails when the upstream code changes): its dispatch call (`_dispatch`, here on a connection of
the thread's own), its consumer (actors/consumer.py) and its queue layout (`delivery`).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import current_millis
from dramatiq.middleware import CurrentMessage, Retries, ShutdownNotifications, TimeLimit

from actors.consumer import Draining, KilnConsumer
from domain.direct_script import DirectScript
from domain.handoff import Delivery
from domain.messages import QUEUE
from domain.redis_client import broker_client
from domain.settings import Settings

DELAY_POLL_MS = 500  # how often an idle worker looks at a delay queue


def queued_form(message: dramatiq.Message) -> tuple[str, str]:
    """`message` as Dramatiq's `enqueue` puts it in Redis: its Redis id and its encoding, the
    id in its options. A new message's own id is unique, so it serves as its Redis id too
    (Dramatiq gives a re-enqueued copy, e.g. a retry, a fresh one)."""
    redis_id = message.message_id
    return redis_id, message.copy(options={"redis_message_id": redis_id}).encode().decode()


class KilnRedisBroker(RedisBroker):
    """RedisBroker whose idle consumers poll at most every `idle_poll_ms` and wake at once for
    a message this process sends to their queue (see actors/consumer.py).

    Dramatiq backs an idle consumer off up to its worker timeout (1 s), which puts several
    hundred ms between a start request and the first stage on a quiet system.
    """

    def __init__(self, *args: object, idle_poll_ms: int = 100, **kwargs: object) -> None:
        self._direct_dispatch: DirectScript | None = None
        super().__init__(*args, **kwargs)
        self.db = int(self.client.connection_pool.connection_kwargs.get("db") or 0)
        self.idle_poll_ms = idle_poll_ms
        self._consumers: dict[str, weakref.WeakSet[KilnConsumer]] = {}
        # A snapshot of each queue's consumers for wake_consumers (once per stage): iterating
        # a WeakSet costs more than the rest of it.
        self._wakeable: dict[str, tuple[weakref.ref[KilnConsumer], ...]] = {}
        # Consumer threads of stopping workers (Draining): what they consume drains.
        self.draining_threads: weakref.WeakSet[threading.Thread] = weakref.WeakSet()

    def _dispatch(self, command: str) -> Callable[..., Any]:
        # Dramatiq's dispatch script (fetch, ack, enqueue ...) on the thread's own connection:
        # redis-py's pooled call costs several times the call itself (domain/direct_script.py).
        if self._direct_dispatch is None:
            self._direct_dispatch = DirectScript(self.client, self.scripts["dispatch"].script)
        dispatch, keys = self._direct_dispatch, [self.namespace]

        def do_dispatch(queue_name: str, *args: Any) -> Any:
            return dispatch(keys, [command, current_millis(), queue_name, self.broker_id,
                                   self.heartbeat_timeout, self.dead_message_ttl,
                                   self._should_do_maintenance(command),
                                   self._max_unpack_size(), *args])

        return do_dispatch

    @property
    def consumer_class(self) -> type[_RedisConsumer]:
        return KilnConsumer

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> _RedisConsumer:
        # A delay queue (retries' back-off, 0.5 s and up) need not be polled as often as a
        # queue: every worker polls two of each (Kiln's and its host's), and idle polls were a
        # flood's largest cost after the hops themselves (docs/performance.md).
        poll = DELAY_POLL_MS if queue_name.endswith(".DQ") else self.idle_poll_ms
        consumer = super().consume(queue_name, prefetch, min(timeout, max(poll, self.idle_poll_ms)))
        # Dramatiq's consumer threads make their consumer themselves (again after a lost
        # connection): one its worker is stopping drains from the start.
        consumer.draining = threading.current_thread() in self.draining_threads
        self._consumers.setdefault(queue_name, weakref.WeakSet()).add(consumer)
        self._wakeable[queue_name] = tuple(weakref.ref(c) for c in self._consumers[queue_name])
        return consumer

    def enqueue(self, message: dramatiq.Message, *, delay: int | None = None) -> dramatiq.Message:
        sent = super().enqueue(message, delay=delay)
        if delay is None:
            self.wake_consumers(message.queue_name)
        return sent

    def wake_consumers(self, queue_name: str) -> None:
        """A message was put on `queue_name` from this process: idle consumers fetch now."""
        for ref in self._wakeable.get(queue_name, ()):
            # Only a consumer waiting for messages (not one waiting for free worker threads),
            # and only once: set() always notifies, a syscall and a thread switch each time.
            consumer = ref()
            if consumer is not None and consumer.idle and not consumer.wake.is_set():
                consumer.wake.set()

    def delivery(self, current: MessageProxy | None, send: dramatiq.Message | None) -> Delivery:
        """The Redis keys a stage's hand-off (domain/handoff.py) writes in Dramatiq's layout:
        `send` goes on its queue as `enqueue` would put it (minus enqueue middleware hooks,
        which Kiln's middleware does not use), and `current` is acknowledged as the
        consumer's `ack` would (its consumer is told, so it skips its own round trip). The
        queue is `send`'s own: a stage may hand off to another queue than its own."""
        queue = send.queue_name if send else current.queue_name if current else QUEUE
        full = f"{self.namespace}:{queue}"
        ack_id = ""
        if current is not None and current.queue_name == queue:
            ack_id = current.options.get("redis_message_id", "")
        send_id, send_data = queued_form(send) if send is not None else ("", "")
        return Delivery(db=self.db, queue=full, messages=f"{full}.msgs",
                        unacked=f"{self.namespace}:__acks__.{self.broker_id}.{queue}",
                        ack_id=ack_id, send_id=send_id, send_data=send_data)


def make_broker(settings: Settings) -> KilnRedisBroker:
    # Dramatiq's defaults minus what Kiln does not use (message age limits, callbacks,
    # pipelines): each one is called for every message.
    middleware = [
        TimeLimit(), ShutdownNotifications(), Retries(min_backoff=500, max_backoff=10_000),
        CurrentMessage(), Draining(),
    ]
    broker = KilnRedisBroker(
        client=broker_client(settings.redis_url, settings.broker_db, max_connections=256),
        middleware=middleware,
        heartbeat_timeout=settings.heartbeat_timeout_ms,
        maintenance_chance=settings.maintenance_chance,
        idle_poll_ms=settings.idle_poll_ms,
    )
    dramatiq.set_broker(broker)
    return broker
