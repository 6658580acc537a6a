"""The Dramatiq broker every worker process and test worker uses.

Crash recovery: a message held by a SIGKILLed worker returns when a maintenance roll finds the
dead worker's heartbeat older than `heartbeat_timeout`. Dramatiq's defaults (60 s, 1-in-1000
rolls) take 5-12 minutes; Kiln's (15 s, 1-in-10 rolls) take ~20 s. Lower means a worker frozen
for longer than the timeout loses its messages and they run twice: stages are idempotent and
deliveries are counted, so that costs time, not correctness.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import current_millis
from dramatiq.message import get_encoder
from dramatiq.middleware import (
    CurrentMessage,
    Middleware,
    MiddlewareError,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from actors.consumer import Draining, KilnConsumer
from domain.direct_script import DirectScript
from domain.handoff import Delivery
from domain.messages import QUEUE
from domain.redis_client import broker_client
from domain.settings import Settings


class KilnRedisBroker(RedisBroker):
    """RedisBroker whose idle consumers poll at most every `idle_poll_ms` and wake at once for
    a message this process sends to their queue (see actors/consumer.py).

    Dramatiq backs an idle consumer off up to its worker timeout (1 s), which puts several
    hundred ms between a start request and the first stage on a quiet system.
    """

    def __init__(self, *args: object, idle_poll_ms: int = 100, **kwargs: object) -> None:
        self._hooks: dict[str, list[Callable[..., None]]] = {}
        self._direct_dispatch: DirectScript | None = None
        super().__init__(*args, **kwargs)
        self.db = int(self.client.connection_pool.connection_kwargs.get("db") or 0)
        self.idle_poll_ms = idle_poll_ms
        self._consumers: dict[str, weakref.WeakSet[KilnConsumer]] = {}
        # A snapshot of each queue's consumers for wake_consumers (once per stage): iterating
        # a WeakSet costs more than the rest of it.
        self._wakeable: dict[str, tuple[weakref.ref[KilnConsumer], ...]] = {}

    # Dramatiq calls every middleware's hook for every signal, no-ops included (about 30 calls
    # per message); these call only the hooks a middleware implements, in Dramatiq's order.
    def add_middleware(self, middleware: Middleware, **where: Any) -> None:
        super().add_middleware(middleware, **where)
        self._hooks.clear()

    def _implemented(self, name: str) -> list[Callable[..., None]]:
        hooks = self._hooks.get(name)
        if hooks is None:
            order = self.middleware if name.startswith("before_") else self.middleware[::-1]
            hooks = [getattr(m, name) for m in order
                     if getattr(type(m), name, None) is not getattr(Middleware, name, None)]
            self._hooks[name] = hooks
        return hooks

    def emit_before(self, signal: str, *args: Any, **kwargs: Any) -> None:
        for hook in self._implemented("before_" + signal):
            try:
                hook(self, *args, **kwargs)
            except MiddlewareError:
                raise
            except Exception:
                self.logger.critical("Unexpected failure in before_%s of %r.", signal,
                                     hook.__self__, exc_info=True)

    def emit_after(self, signal: str, *args: Any, **kwargs: Any) -> None:
        for hook in self._implemented("after_" + signal):
            try:
                hook(self, *args, **kwargs)
            except Exception:
                self.logger.critical("Unexpected failure in after_%s of %r.", signal,
                                     hook.__self__, exc_info=True)

    def _dispatch(self, command: str) -> Callable[..., Any]:
        # Dramatiq's dispatch script (fetch, ack, enqueue ...) on the thread's own connection.
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
        consumer = super().consume(queue_name, prefetch, min(timeout, self.idle_poll_ms))
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
        consumer's `ack` would (its consumer is told, so it skips its own round trip)."""
        queue = send.queue_name if send else current.queue_name if current else QUEUE
        full = f"{self.namespace}:{queue}"
        ack_id = ""
        if current is not None and current.queue_name == queue:
            ack_id = current.options.get("redis_message_id", "")
        send_id = send_data = ""
        if send is not None:
            # A new message's own id is unique: it serves as its Redis id too (Dramatiq gives
            # a re-enqueued copy, e.g. a retry, a fresh one).
            send_id = send.message_id
            send_data = get_encoder().encode({
                "queue_name": send.queue_name, "actor_name": send.actor_name,
                "args": send.args, "kwargs": send.kwargs,
                "options": {**send.options, "redis_message_id": send_id},
                "message_id": send_id, "message_timestamp": send.message_timestamp}).decode()
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
