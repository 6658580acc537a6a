"""The consumer Kiln's broker hands its workers: Dramatiq's Redis consumer with shorter waits,
and one that knows when a stage's hand-off already acknowledged a message. `__next__` mirrors
Dramatiq 2.2's `_RedisConsumer.__next__` (tests/unit/test_upstream.py watches it)."""

from __future__ import annotations

import contextlib
import threading

import dramatiq
import redis
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import _RedisConsumer
from dramatiq.common import compute_backoff
from dramatiq.errors import ConnectionClosed
from dramatiq.message import Message
from dramatiq.middleware import Middleware

HANDED_OFF = "kiln_handed_off"


class KilnConsumer(_RedisConsumer):
    """Dramatiq's Redis consumer with two waits that end early:

    - while the prefetched messages are still being worked on, it waits for worker threads to
      finish them (Dramatiq counts "prefetch full" as an empty poll and backs off 5, 10, 20 ...
      ms while worker threads sit idle). Under load (the last fetch filled every free slot) it
      fetches once half the prefetch is free, a batch per round trip; otherwise as soon as one
      slot is;
    - while the queue is empty, its back-off ends as soon as this process sends a message to
      the queue (a stage sending the next stage's message): the worker that just freed a
      thread takes it at once instead of after its poll interval.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.wake = threading.Event()
        self.busy = False  # the last fetch filled every free slot: the queue has more
        self.idle = False  # the last fetch found the queue empty: a send here should wake it
        self.draining = False  # its worker is stopping (Draining): take nothing new

    @property
    def fetch_at(self) -> int:
        """Fetch when at most this many messages are outstanding."""
        return self.prefetch // 2 if self.busy else self.prefetch - 1

    def _freed(self) -> None:
        # Event.set() notifies even when nobody waits: a syscall per message otherwise.
        if self.outstanding_message_count <= self.fetch_at and not self.wake.is_set():
            self.wake.set()

    def ack(self, message: dramatiq.Message) -> None:
        try:
            if getattr(message, HANDED_OFF, False):  # the stage's hand-off acknowledged it
                self.queued_message_ids.discard(message.message_id)
            else:
                super().ack(message)
        finally:
            self._freed()

    def nack(self, message: dramatiq.Message) -> None:
        try:
            super().nack(message)
        finally:
            self._freed()

    def __next__(self) -> MessageProxy | None:
        # Dramatiq's _RedisConsumer.__next__ with the two waits above.
        try:
            if self.draining:
                return self._drain()
            while True:
                if self.message_cache:
                    data = self.message_cache.pop(0)
                    if data is None:
                        continue
                    self.misses = 0
                    message = Message.decode(data)
                    self.queued_message_ids.add(message.message_id)
                    return MessageProxy(message)
                self.wake.clear()
                if self.outstanding_message_count > self.fetch_at:
                    self.wake.wait(self.timeout / 1000)  # until worker threads free slots
                    return None
                wanted = self.prefetch - self.outstanding_message_count
                self.message_cache = self.broker.do_fetch(self.queue_name, wanted)
                self.busy = wanted > 1 and len(self.message_cache) >= wanted
                self.idle = not self.message_cache
                if not self.message_cache:
                    self.misses, backoff_ms = compute_backoff(self.misses,
                                                              max_backoff=self.timeout)
                    if self.wake.wait(backoff_ms / 1000):
                        self.misses = 0  # something was sent here: poll again at once
                    return None
        except redis.ConnectionError as e:
            raise ConnectionClosed(e) from None


    def _drain(self) -> None:
        # The worker is stopping: its threads finish their stages, and one idle in Dramatiq's
        # work-queue wait would start any message handed to it. Take nothing new, but keep
        # the heartbeat (a fetch of none) so this worker's unacked stages are not recovered
        # from under it.
        self.broker.do_fetch(self.queue_name, 0)
        self.wake.wait(self.timeout / 1000)

    def close(self) -> None:
        # Prefetched, never handed out: back on the queue now, not after the heartbeat timeout.
        cached = [Message.decode(data) for data in self.message_cache if data]
        self.message_cache = []
        with contextlib.suppress(redis.ConnectionError):  # else dead-worker recovery does
            self.requeue(cached)
        super().close()


class Draining(Middleware):
    """Marks the consumers of a worker that is stopping, for KilnConsumer (see _drain): that
    worker's only, so another worker on the same broker (two in one process) goes on taking
    messages. Reads Dramatiq's `Worker.consumers` (queue -> its consumer thread, whose
    `consumer` is the current one): tests/unit/test_upstream.py watches Worker.stop."""

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        threads = list(worker.consumers.values())
        # A consumer a thread makes from now on (after a lost connection) drains too.
        broker.draining_threads.update(threads)  # type: ignore[attr-defined]
        for thread in threads:
            if isinstance(thread.consumer, KilnConsumer):
                thread.consumer.draining = True


def mark_handed_off(message: MessageProxy) -> None:
    """The hand-off acknowledged `message`: its consumer must not acknowledge it again."""
    setattr(message, HANDED_OFF, True)
