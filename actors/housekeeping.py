"""Periodic housekeeping, run by the workers themselves (no separate scheduler).

Each worker process runs a small loop; a Redis lock per task makes one sweep happen per interval
however many processes run it. Tasks: release SCHEDULED jobs at their time, the watchdog
(re-drive or fail stages that stopped progressing; never a job waiting for a worker), and the
sandbox reaper (never a live build's sandbox while the build makes progress).
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter

import dramatiq

from actors import context, leases, teardown
from actors.context import Services
from actors.sandbox.registry import this_host
from domain.failures import Reason
from domain.job import Job
from domain.logs import get_logger
from domain.messages import send_stage, stage_message
from domain.status import STAGES, Status, handed_to
from domain.telemetry import Telemetry
from domain.wake import superseded

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
    message = stage_message(stage, job.job_id, job.attempt, iteration)
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
    takeover = stage_message(job.status, job.job_id, job.attempt, job.iteration)
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


def reap(svc: Services) -> int:
    """Kill sandboxes nobody needs: job vanished, job terminal and not previewing, preview
    expired, a live build's sandbox whose lease passed (no progress past the watchdog's limit),
    any other sandbox past its registered expiry; for e2b also provider sandboxes with Kiln
    metadata but no registry record."""
    now = svc.store.clock.now()
    # List the runtime before reading the registry, and re-check before a kill: a sandbox
    # created mid-sweep must not pass for an unregistered orphan and die under its job (a
    # local sandbox registers before its state file makes it listable).
    live = svc.runtime.list_live()
    records = svc.registry.all()
    jobs = {j.job_id: j for j in svc.store.get_jobs(sorted({r.job_id for r in records}))}
    reasons: Counter[str] = Counter()
    for record in records:
        if record.runtime == "local" and record.host != this_host():
            continue  # a local sandbox can only be killed on the host that created it
        job = jobs.get(record.job_id)
        reason = None
        if job is None:
            reason = "job_vanished"
        elif job.status == Status.READY:
            if job.sandbox_id != record.sandbox_id:
                # Unless it is the preview's now: a wake brought it back on it, or is doing
                # so (actors/wake.py).
                if superseded(svc.store, job.job_id, record.sandbox_id):
                    reason = "superseded"
            elif (job.sandbox_expires_at or 0) <= now:
                reason = "preview_expired"
        elif (job.status == Status.FAILED
              and now - job.updated_at >= svc.settings.cancel_hard_deadline_s):
            # The actor tears a failed job's sandbox down itself; if it has not by now it is
            # stuck in a call (the cancel hard deadline), so the reaper does it.
            reason = "job_failed"
        elif record.sandbox_id == job.sandbox_id:
            # A live build's own sandbox follows the build: renewed by every stage entry and
            # hand-off, and while its next message waits for a worker (actors/leases.py).
            if (job.lease_until or record.expires_at) <= now:
                reason = "lease_expired"
        elif record.expires_at <= now:
            reason = "expired"  # one it does not use (a twin's, a lost one's): at creation + lease
        if reason:
            svc.runtime.kill(record.sandbox_id)
            svc.registry.remove(record.sandbox_id)
            log.info("reaper.killed", sandbox_id=record.sandbox_id, job_id=record.job_id,
                     reason=reason)
            reasons[reason] += 1
    known = {r.sandbox_id for r in records}
    for sandbox_id, metadata in live:
        if (sandbox_id not in known and metadata.get("kiln_job_id")
                and svc.registry.get(sandbox_id) is None):  # and still not registered now
            svc.runtime.kill(sandbox_id)
            log.info("reaper.killed", sandbox_id=sandbox_id, reason="unregistered")
            reasons["unregistered"] += 1
    Telemetry(svc.store.redis, svc.store.prefix).count_many("sandboxes_reaped", reasons)
    return sum(reasons.values())


TASKS = (("scheduled", release_scheduled, 1.0), ("queue", queue_upkeep, 1.0),
         ("watchdog", watchdog, 2.0), ("reaper", reap, 2.0))


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

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.clear()
        threading.Thread(target=self._loop, name="kiln-housekeeping", daemon=True).start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                run_once(context.services())
            except Exception:  # deliberately any: the loop outlives one bad round (logged)
                log.exception("housekeeping.loop_failed")
