"""The message contract between the web app and the stage actors.

The web app only *sends* messages; it never imports the actors. Both sides build stage
messages here, so actor names, the queue and the argument shape live in one place.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from domain.redis_client import broker_client
from domain.settings import Settings
from domain.status import STAGES, Status

# All stage actors share one queue: per-actor queues cost ~20x idle hop latency.
QUEUE = "kiln"

STAGE_ACTOR: dict[Status, str] = {stage: f"stage_{stage.value}" for stage in STAGES}


def stage_message(stage: Status, job_id: str, attempt: int = 1, iteration: int = 0,
                  queue: str = QUEUE) -> dramatiq.Message:
    """A stage's message, built with Dramatiq's public Message API; on Kiln's one queue unless
    told another (a stage's hand-off sends to the queue its next message names)."""
    return dramatiq.Message(queue_name=queue, actor_name=STAGE_ACTOR[stage],
                            args=(job_id, attempt, iteration), kwargs={}, options={})


def sender_broker(redis_url: str, broker_db: int | None = None) -> RedisBroker:
    """A broker for processes that only enqueue (the web app, bin/replay, bin/bench): no
    middleware, no actors, so importing it starts nothing. On the broker's database, as the
    workers' (`broker_db`, by default this process's KILN_BROKER_DB)."""
    if broker_db is None:
        broker_db = Settings.from_env().broker_db
    return RedisBroker(client=broker_client(redis_url, broker_db), middleware=[])


def send_stage(broker: dramatiq.Broker, stage: Status, job_id: str, attempt: int = 1,
               iteration: int = 0, delay_ms: int | None = None) -> None:
    broker.enqueue(stage_message(stage, job_id, attempt, iteration), delay=delay_ms)
