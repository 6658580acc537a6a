"""The Dramatiq broker every worker process and test worker uses.

Crash recovery: a message held by a SIGKILLed worker returns when a maintenance roll finds the
dead worker's heartbeat older than `heartbeat_timeout`. Dramatiq's defaults (60 s, 1-in-1000
rolls) take 5-12 minutes; Kiln's (15 s, 1-in-10 rolls) take ~20 s. Lower means a worker frozen
for longer than the timeout loses its messages and they run twice: stages are idempotent and
deliveries are counted, so that costs time, not correctness.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from domain.settings import Settings


class KilnRedisBroker(RedisBroker):
    """RedisBroker whose idle consumers poll at most every `idle_poll_ms`.

    Dramatiq backs an idle consumer off up to its worker timeout (1 s), which puts several
    hundred ms between a start request and the first stage on a quiet system.
    """

    def __init__(self, *args: object, idle_poll_ms: int = 100, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.idle_poll_ms = idle_poll_ms

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000):  # noqa: ANN201
        return super().consume(queue_name, prefetch, min(timeout, self.idle_poll_ms))


def make_broker(settings: Settings) -> KilnRedisBroker:
    middleware = [
        AgeLimit(), TimeLimit(), ShutdownNotifications(), Callbacks(), Pipelines(),
        Retries(min_backoff=500, max_backoff=10_000), CurrentMessage(),
    ]
    broker = KilnRedisBroker(
        url=settings.redis_url,
        middleware=middleware,
        heartbeat_timeout=settings.heartbeat_timeout_ms,
        maintenance_chance=settings.maintenance_chance,
        idle_poll_ms=settings.idle_poll_ms,
    )
    dramatiq.set_broker(broker)
    return broker
