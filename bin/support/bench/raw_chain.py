"""The baseline: a raw Dramatiq chain of no-op actors on one shared queue, the same number of
actors as Kiln has stages. Loaded by `python -m dramatiq bin.support.bench.raw_chain`.

Stock RedisBroker with Dramatiq's default middleware; only the idle consumer poll is capped
like Kiln's broker (KILN_IDLE_POLL_MS), so idle latency compares like with like. Each actor
stamps its entry time into the message; the last one pushes the stamps to a Redis list (one
command per chain, as Kiln's last step writes READY).
"""

from __future__ import annotations

import os
import time

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from domain.redis_client import broker_client
from domain.settings import Settings
from domain.status import STAGES

QUEUE = "bench_raw"
RESULTS = "bench:raw:results"
LENGTH = len(STAGES)
_IDLE_POLL_MS = int(os.environ.get("KILN_IDLE_POLL_MS", "100"))


class CappedPollBroker(RedisBroker):
    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000):
        return super().consume(queue_name, prefetch, min(timeout, _IDLE_POLL_MS))


# On the broker's database, as Kiln's workers are: the two sides differ only in their code.
broker = CappedPollBroker(client=broker_client(Settings.from_env().redis_url,
                                               Settings.from_env().broker_db))
dramatiq.set_broker(broker)
_results = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
actors: list[dramatiq.Actor] = []


def _make(index: int) -> dramatiq.Actor:
    def hop(chain_id: str, stamps: list[float]) -> None:
        stamps.append(time.time())
        if index + 1 < LENGTH:
            actors[index + 1].send(chain_id, stamps)
        else:
            _results.rpush(RESULTS, ",".join(repr(s) for s in stamps))

    hop.__name__ = hop.__qualname__ = f"raw_{index}"
    return dramatiq.actor(hop, actor_name=f"raw_{index}", queue_name=QUEUE)


actors.extend(_make(i) for i in range(LENGTH))
