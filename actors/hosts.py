"""This worker host's part in a deployment of several: the queue it consumes besides the
shared one, its heartbeat, and the sweep that moves a lost host's jobs to the shared queue.

- Every worker process consumes its host's queue (domain/hosts.py: `host_queue`); a job's
  stages after `starting` are sent there while its sandbox lives on this host.
- While a worker runs, its host's heartbeat key is renewed every third of KILN_HOST_TTL_S
  (first before its consumers start, so no message is routed here before the host is alive).
- The sweep (a housekeeping task) looks at running jobs whose sandbox's host has no heartbeat:
  their next message goes to the shared queue (domain/lua/host_lost.lua), and whichever worker
  takes it replaces the sandbox from the stored files (actors/leases.py).
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import TYPE_CHECKING

import dramatiq

from actors.broker import queued_form
from actors.sandbox.base import SandboxRuntime
from actors.sandbox.registry import this_host
from domain.hosts import host_queue
from domain.job import Job
from domain.logs import get_logger
from domain.messages import QUEUE, stage_message
from domain.status import STAGES, handed_to
from domain.telemetry import Telemetry

if TYPE_CHECKING:
    from actors.context import Services

log = get_logger("kiln.hosts")
# Runtimes whose sandboxes only the host that created them can reach.
HOST_BOUND = ("local",)


def sandbox_host(runtime: SandboxRuntime) -> str:
    """The host a sandbox this process creates lives on: this one for a host-bound runtime,
    '' for a provider every host reaches (its jobs stay on the shared queue)."""
    return this_host() if getattr(runtime, "name", "") in HOST_BOUND else ""


def own_queue() -> str:
    """The queue this process consumes besides the shared one."""
    return host_queue(this_host())


class Heartbeat:
    """Renews this host's heartbeat at most every third of its TTL (called often)."""

    def __init__(self) -> None:
        self._last = float("-inf")
        self._lock = threading.Lock()

    def tick(self, svc: Services, force: bool = False) -> None:
        ttl = svc.settings.host_ttl_s
        with self._lock:
            now = time.monotonic()
            if not force and now - self._last < ttl / 3:
                return
            svc.hosts.beat(this_host(), ttl)
            self._last = now


heartbeat = Heartbeat()


def _messages(job: Job) -> tuple[dramatiq.Message, dramatiq.Message]:
    """The job's next stage's message and its current stage's, under one new id, for the
    shared queue (the sweep's script picks one by the job's state)."""
    new_id = uuid.uuid4().hex
    to, iteration = handed_to(job.status, job.iteration)
    return (stage_message(to, job.job_id, job.attempt, iteration).copy(message_id=new_id),
            stage_message(job.status, job.job_id, job.attempt, job.iteration)
            .copy(message_id=new_id))


def sweep_lost_hosts(svc: Services) -> int:
    """Move the running jobs of hosts without a heartbeat to the shared queue. Returns how
    many it moved."""
    lost = svc.hosts.lost()
    if not lost:
        return 0
    store = svc.store
    ids = store.redis.zrange(store.keys.active(), 0, -1)
    jobs = [j for j in store.get_jobs(ids) if j.sandbox_host in lost and j.status in STAGES]
    svc.hosts.forget(lost - {j.sandbox_host for j in jobs})
    moved = 0
    telemetry = Telemetry(store.redis, store.prefix)
    for job in jobs:
        host = job.sandbox_host or ""
        next_stage, this_stage = _messages(job)
        shared = svc.broker.delivery(None, next_stage)  # the shared queue's keys, the new id
        outcome = svc.hosts.move_off(job, host, shared, shared.send_data,
                                     queued_form(this_stage)[1])
        if outcome in ("resent", "taken_over"):
            moved += 1
            svc.broker.wake_consumers(QUEUE)
            telemetry.count("host_lost_moves", job.status.value, outcome)
            log.warning("host.lost_job_moved", job_id=job.job_id, host=host,
                        stage=job.status.value, outcome=outcome)
    return moved
