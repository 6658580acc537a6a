"""Both sides of the orchestration comparison behind one shape: prepare N jobs (or chains),
fire their first messages, count what is still running, and read each one's stage entry times.
"""

from __future__ import annotations

import uuid

import dramatiq

from bin.support.bench import common, raw_chain
from domain.capacity import Capacity
from domain.messages import send_stage, sender_broker
from domain.redis_client import connect
from domain.status import STAGES, Status
from domain.store import JobStore

HOPS_PER_JOB = len(STAGES)  # messages per job: one per stage actor


class RawDriver:
    name = "raw"
    module = "bin.support.bench.raw_chain"

    def __init__(self, url: str) -> None:
        self.redis = connect(url)
        self.broker = sender_broker(url)  # a stock broker, on the broker's database
        self.sent: list[str] = []
        self.polls = 0

    def env(self) -> dict[str, str]:
        return {}

    def prepare(self, n: int) -> list[str]:
        self.redis.delete(raw_chain.RESULTS)
        self.sent = []
        return [uuid.uuid4().hex for _ in range(n)]

    def fire(self, ids: list[str]) -> None:
        for chain_id in ids:
            self.broker.enqueue(dramatiq.Message(queue_name=raw_chain.QUEUE, actor_name="raw_0",
                                                 args=(chain_id, []), kwargs={}, options={}))
        self.sent += ids

    def start_one(self) -> None:
        self.fire([uuid.uuid4().hex])

    def pending(self) -> int:
        self.polls += 1
        return len(self.sent) - int(self.redis.llen(raw_chain.RESULTS))

    def stage_times(self) -> tuple[list[list[float]], int]:
        rows = [[float(x) for x in row.split(",")]
                for row in self.redis.lrange(raw_chain.RESULTS, 0, -1)]
        return rows, 0


class KilnDriver:
    name = "kiln"
    module = "actors"

    def __init__(self, url: str) -> None:
        self.store = JobStore(connect(url))
        self.capacity = Capacity(self.store, global_cap=common.GLOBAL_CAP,
                                 queue_cap=2 * common.GLOBAL_CAP, env=common.UNCAPPED)
        self.broker = sender_broker(url)
        self.sent: list[str] = []
        self.polls = 0
        self.project_id = ""

    def env(self) -> dict[str, str]:
        return {"KILN_SANDBOX": common.NOOP_RUNTIME, "KILN_GENERATOR": common.NOOP_GENERATOR,
                **common.UNCAPPED}

    def prepare(self, n: int) -> list[tuple[str, int]]:
        """N jobs created and admitted (as POST start does), their `starting` not yet sent."""
        self.sent = []
        self.project_id = self.store.create_project("bench", "bench")["project_id"]
        admitted: list[tuple[str, int]] = []
        for _ in range(n):
            admitted += self.start_job(send=False)
        return admitted

    def start_one(self) -> None:
        self.start_job()

    def start_job(self, send: bool = True) -> list[tuple[str, int]]:
        if not self.project_id:
            self.project_id = self.store.create_project("bench", "bench")["project_id"]
        decision = self.capacity.start(self.project_id, "bench", "cto_scale", "a todo app")
        if send:
            self.fire(decision.admitted)
        return decision.admitted

    def fire(self, jobs: list[tuple[str, int]]) -> None:
        for job_id, attempt in jobs:
            send_stage(self.broker, Status.STARTING, job_id, attempt)
        self.sent += [job_id for job_id, _ in jobs]

    def pending(self) -> int:
        self.polls += 1
        return int(self.store.redis.zcard(self.store.keys.live_global()))

    def stage_times(self) -> tuple[list[list[float]], int]:
        """Per job, when each stage actor entered (starting … checks); and how many failed."""
        rows, failed = [], 0
        for job in self.store.get_jobs(self.sent):
            if job.status != Status.READY:
                failed += 1
                continue
            rows.append([job.timestamps[s.value] for s in STAGES])
        return rows, failed
