"""The chaos load: builds started the way the web app starts them, a random worker SIGKILLed
every few seconds, some builds cancelled, Redis restarted once mid-run. Bounded in time: the
kills stop after `plan.chaos_s`, then every job must be terminal within `plan.settle_s`."""

from __future__ import annotations

import contextlib
import random
import time
from dataclasses import dataclass, field

from domain.capacity import Capacity, QueueFull
from domain.failures import CANCELLED_MESSAGE
from domain.messages import send_stage, sender_broker
from domain.redis_client import connect
from domain.status import Status
from domain.store import JobStore
from domain.tiers import Tier
from tests.chaos.cluster import ChaosCluster
from tests.chaos.plan import PROJECTS_PER_USER, USERS, ChaosPlan
from tests.support.waiting import wait_for

GOALS = ("a todo app with due dates", "a notes app with tags", "a recipe box",
         "a habit tracker", "a reading list with ratings")


@dataclass
class RunLog:
    job_ids: list[str] = field(default_factory=list)
    projects: dict[str, list[str]] = field(default_factory=dict)  # project -> its job ids
    cancels: int = 0
    queue_full: int = 0
    redis_down_s: float = 0.0
    chaos_s: float = 0.0
    total_s: float = 0.0


class ChaosDriver:
    def __init__(self, cluster: ChaosCluster, plan: ChaosPlan) -> None:
        self.cluster = cluster
        self.plan = plan
        self.rng = random.Random(plan.seed)  # the load: owners, goals, cancels
        self.chaos_rng = random.Random(plan.seed + 1)  # kills and freezes: the same every run
        self.store = JobStore(connect(cluster.url))
        # Quotas out of the way (every start must be QUEUED, not scheduled for tomorrow);
        # concurrency caps stay the tiers' defaults, the same ones the workers admit with.
        quotas = {f"KILN_TIER_{t.value.upper()}_DAILY_JOBS": "100000" for t in Tier}
        self.capacity = Capacity(self.store, global_cap=plan.global_cap, queue_cap=100_000,
                                 env=quotas)
        self.broker = sender_broker(cluster.url)
        self.log = RunLog()
        self._owners: list[tuple[str, str, str]] = []  # (project_id, user_id, tier)
        self._cancel_at: dict[str, float] = {}

    def _setup_projects(self) -> None:
        for user_id, tier in USERS:
            for n in range(PROJECTS_PER_USER):
                project = self.store.create_project(user_id, f"Chaos {n}")
                self._owners.append((project["project_id"], user_id, tier))
                self.log.projects[project["project_id"]] = []

    def _send_admitted(self, admitted: list[tuple[str, int]]) -> None:
        for job_id, attempt in admitted:
            send_stage(self.broker, Status.STARTING, job_id, attempt)

    def _submit(self, now: float) -> None:
        project_id, user_id, tier = self.rng.choice(self._owners)
        try:
            decision = self.capacity.start(project_id, user_id, tier, self.rng.choice(GOALS))
        except QueueFull:
            self.log.queue_full += 1
            return
        self._send_admitted(decision.admitted)
        job_id = decision.job.job_id
        self.log.job_ids.append(job_id)
        self.log.projects[project_id].append(job_id)
        if self.rng.random() < self.plan.cancel_fraction:
            self._cancel_at[job_id] = now + self.rng.uniform(0.0, 6.0)

    def _cancel_due(self, now: float) -> None:
        for job_id, at in list(self._cancel_at.items()):
            if at <= now:
                del self._cancel_at[job_id]
                # What the web app's cancel does: flag + FAILED in one step, then admit.
                if self.store.cancel(job_id, CANCELLED_MESSAGE).ok:
                    self.log.cancels += 1
                    self._send_admitted(self.capacity.admit())

    def pending(self) -> list[str]:
        jobs = self.store.get_jobs(self.log.job_ids)
        return [job.job_id for job in jobs if not job.terminal]

    def run(self) -> RunLog:
        plan, began = self.plan, time.monotonic()
        self._setup_projects()
        restart_after = max(1, int(plan.jobs * plan.redis_restart_at))
        next_submit = next_kill = began
        next_kill += self.chaos_rng.uniform(*plan.kill_every_s)
        next_check = began
        # Submitting gives up at its own deadline (a queue that stays full): the test then
        # fails on the count of builds, not at the suite's timeout.
        submit_until = began + plan.jobs * plan.submit_every_s + plan.chaos_s
        while True:
            now = time.monotonic()
            submitting = len(self.log.job_ids) < plan.jobs and now < submit_until
            if submitting and now >= next_submit:
                self._submit(now)
                next_submit = now + plan.submit_every_s
            self._cancel_due(now)
            if not self.cluster.redis_restarts and len(self.log.job_ids) >= restart_after:
                self.log.redis_down_s = self.cluster.restart_redis()
            self.cluster.thaw()
            if now >= next_kill:
                if self.chaos_rng.random() < plan.freeze_fraction:
                    self.cluster.freeze_worker(self.chaos_rng, plan.freeze_s)
                else:
                    self.cluster.kill_worker(self.chaos_rng)
                next_kill = now + self.chaos_rng.uniform(*plan.kill_every_s)
            if now - began >= plan.chaos_s and not submitting:
                break
            if not submitting and now >= next_check:
                next_check = now + 0.5
                if not self.pending():
                    break
            time.sleep(0.05)  # the load's pacing, not a proof: the proof waits on conditions
        self.log.chaos_s = time.monotonic() - began
        self.cluster.thaw(everyone=True)
        self._settle()
        self.log.total_s = time.monotonic() - began
        return self.log

    def _settle(self) -> None:
        """No more kills: every job must reach a terminal status within the deadline."""
        for job_id in list(self._cancel_at):  # cancels still due happen now
            self._cancel_at[job_id] = 0.0
        self._cancel_due(time.monotonic())
        # A miss is not raised here: the invariant checks report the stuck jobs in detail.
        with contextlib.suppress(AssertionError):
            wait_for(lambda: not self.pending(), self.plan.settle_s, interval=0.25,
                     message="every chaos job to reach ready or failed")

    def close(self) -> None:
        self.store.redis.close()
        self.broker.close()
