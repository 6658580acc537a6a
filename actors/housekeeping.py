"""Periodic housekeeping, run by the workers themselves (no separate scheduler).

Each worker process runs a small loop; a Redis lock per task makes one sweep happen per interval
however many processes run it. Tasks: release SCHEDULED jobs at their time, the watchdog
(re-drive or fail stages that stopped progressing; never a job waiting for a worker), the
sandbox reaper (never a live build's sandbox while the build makes progress), and the move of
lost hosts' jobs to the shared queue (actors/hosts.py). The loop also renews this host's
heartbeat.
"""

from __future__ import annotations

import threading
import uuid

import dramatiq

from actors import context, hosts, leases, teardown
from actors.context import Services
from actors.reaper import reap
from domain.failures import Reason
from domain.hosts import queue_for
from domain.job import Job
from domain.logs import get_logger
from domain.messages import QUEUE, send_stage, stage_message
from domain.status import STAGES, Status, handed_to
from domain.telemetry import Telemetry

log = get_logger("kiln.housekeeping")


def _claim(svc: Services, task: str, interval_s: float) -> bool:
    return bool(svc.store.redis.set(svc.store.keys.housekeeping(task), "1", nx=True,
                                    px=max(1, int(interval_s * 1000))))


def release_scheduled(svc: Services) -> int:
    admitted = svc.capacity.release_scheduled()
    for job_id, attempt in admitted:
        send_stage(svc.broker, Status.STARTING, job_id, attempt)
    return len(admitted)


# An admitted job still QUEUED this long after admission lost its `starting` message.
STALE_ADMISSION_S = 30.0


def queue_upkeep(svc: Services) -> int:
    """Keep the admission queue moving: free slots of finished jobs, re-send `starting` for
    admissions whose message was lost, admit, and tell waiting jobs their new positions."""
    svc.capacity.reap_slots()
    resent = 0
    for job_id, attempt in svc.capacity.stale_admissions(STALE_ADMISSION_S):
        # At most one re-send per job per period: a backlog is not a lost message.
        key = svc.store.keys.resent(job_id, attempt)
        if svc.store.redis.set(key, "1", nx=True, ex=int(STALE_ADMISSION_S)):
            send_stage(svc.broker, Status.STARTING, job_id, attempt)
            resent += 1
    teardown.admit_next(svc)
    svc.capacity.publish_positions()
    return resent


def _next_message(job: Job) -> dramatiq.Message | None:
    """The message the job's last hand-off queued (the watchdog re-sends it if it was lost);
    the last stage's only next message is the fix loop's (READY has none)."""
    if not job.next_message or job.status not in STAGES:
        return None
    stage, iteration = handed_to(job.status, job.iteration)
    message = stage_message(stage, job.job_id, job.attempt, iteration,
                            queue=job.next_queue or QUEUE)  # where the hand-off sent it
    return message.copy(message_id=job.next_message)


def watchdog(svc: Services, batch: int = 100) -> int:
    """Look at jobs whose deadline passed (domain/lua/redrive.lua): a job waiting for a worker
    is left waiting (its sandbox lease renewed), a lost next message is sent again, a stalled
    stage is re-driven, and failed once the re-drive budget is spent. Returns the jobs it
    re-drove, re-sent or failed."""
    handled = 0
    telemetry = Telemetry(svc.store.redis, svc.store.prefix)
    seen: set[str] = set()
    while True:
        due = [j for j in svc.store.overdue(svc.store.clock.now(), batch) if j not in seen]
        if not due:
            return handled
        seen.update(due)
        for job in svc.store.get_jobs(due):
            handled += _look_at(svc, job, telemetry)


def _look_at(svc: Services, job: Job, telemetry: Telemetry) -> int:
    if job.status not in STAGES:
        svc.store.redis.zrem(svc.store.keys.active(), job.job_id)
        return 0
    # A stalled stage is taken over on its sandbox's host (a lost host's jobs are moved to
    # the shared queue by actors/hosts.py).
    takeover = stage_message(job.status, job.job_id, job.attempt, job.iteration,
                             queue=queue_for(job.sandbox_host))
    takeover = takeover.copy(message_id=uuid.uuid4().hex)
    resend = _next_message(job)
    outcome = svc.store.redrive(
        job, svc.settings.max_deliveries, svc.broker.delivery(None, takeover),
        svc.broker.delivery(None, resend) if resend else None)
    if outcome in ("waiting", "resent", "ok"):
        leases.renew(svc, job.sandbox_id)  # the provider's own timeout (e2b) follows the job
    if outcome == "waiting":  # saturated workers, not a stall: counted, never acted on
        telemetry.count("watchdog_waiting", job.status.value)
        return 0
    if outcome == "ok":
        svc.broker.wake_consumers(takeover.queue_name)
        log.warning("watchdog.redrive", job_id=job.job_id, stage=job.status.value)
    elif outcome == "resent" and resend is not None:
        svc.broker.wake_consumers(resend.queue_name)
        log.warning("watchdog.resent", job_id=job.job_id, stage=job.status.value,
                    message_id=job.next_message)
    elif outcome == "exhausted":
        teardown.fail(svc, job.job_id, job.status, Reason.STUCK,
                      f"{job.status.value} made no progress after re-drives")
    if outcome != "moved":
        telemetry.count("watchdog_redrives", job.status.value, outcome)
    return int(outcome != "moved")


TASKS = (("scheduled", release_scheduled, 1.0), ("queue", queue_upkeep, 1.0),
         ("watchdog", watchdog, 2.0), ("reaper", reap, 2.0),
         ("hosts", hosts.sweep_lost_hosts, 1.0))


def run_once(svc: Services, force: bool = False) -> dict[str, int]:
    done = {}
    for name, task, interval in TASKS:
        if force or _claim(svc, name, interval):
            try:
                done[name] = task(svc)
            except Exception:  # deliberately any: one failing sweep must not stop the others
                log.exception("housekeeping.failed", task=name)
    return done


class Housekeeping(dramatiq.Middleware):
    """Starts the housekeeping loop in every worker process."""

    def __init__(self, tick_s: float = 0.5) -> None:
        self.tick_s = tick_s
        self._stop = threading.Event()

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # Alive before its consumers start: a stage routed here must never find it "lost".
        try:
            hosts.heartbeat.tick(context.services(), force=True)
        except Exception:  # deliberately any (Redis away at boot): the loop beats again soon
            log.exception("housekeeping.heartbeat_failed")

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.clear()
        threading.Thread(target=self._loop, name="kiln-housekeeping", daemon=True).start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                svc = context.services()
                hosts.heartbeat.tick(svc)
                run_once(svc)
            except Exception:  # deliberately any: the loop outlives one bad round (logged)
                log.exception("housekeeping.loop_failed")
