"""How a job leaves the pipeline without handing off (READY is a hand-off, actors/handoff.py):
cancelled or failed. Each path frees the sandbox and lets the next waiting job in."""

from __future__ import annotations

from actors.context import Services
from domain.failures import friendly_message, sanitize_detail
from domain.logs import get_logger, scrub
from domain.messages import send_stage
from domain.status import Status

log = get_logger("kiln.teardown")


def admit_next(svc: Services) -> None:
    """A slot may have been freed: admit waiting jobs and start them."""
    start_admitted(svc, svc.capacity.admit())


def start_admitted(svc: Services, admitted: list[tuple[str, int]]) -> None:
    """Send `starting` for jobs just admitted; the others waiting see their new positions."""
    for job_id, attempt in admitted:
        send_stage(svc.broker, Status.STARTING, job_id, attempt)
    if admitted:  # the queue moved: waiting jobs see their new positions now
        svc.capacity.publish_positions()


def kill_sandboxes(svc: Services, job_id: str) -> int:
    """Kill every sandbox of the job: the one on record and any registered for it (a worker can
    die between creating a sandbox and recording its id)."""
    job = svc.store.get_job(job_id)
    ids = {record.sandbox_id for record in svc.registry.for_job(job_id)}
    if job and job.sandbox_id:
        ids.add(job.sandbox_id)
    killed = sum(1 for sandbox_id in ids if svc.runtime.kill(sandbox_id))
    if killed:
        log.info("sandbox.killed", count=killed)
    return killed


def _finished_without_preview(status: Status | None) -> bool:
    """Only a FAILED (or vanished) job's sandboxes may be torn down. A stage that finds the job
    READY or at another stage is a duplicate run (a redelivery to a second worker while the
    first was frozen, a watchdog take-over) that lost the race: its twin still needs them."""
    return status in (Status.FAILED, None)


def after_cancel(svc: Services, job_id: str) -> None:
    job = svc.store.get_job(job_id)
    if job is not None and not job.cancelled and not _finished_without_preview(job.status):
        # Not a cancel: the job moved on under a duplicate of this stage (its write refused).
        log.info("stage.superseded", status=job.status.value)
        return
    log.info("stage.cancelled")
    kill_sandboxes(svc, job_id)
    admit_next(svc)


def fail(svc: Services, job_id: str, stage: Status, reason: str, detail: str) -> None:
    result = svc.store.transition(
        job_id, Status.FAILED, expected=stage, error_code=reason,
        error_message=friendly_message(stage, reason),
        error_detail=sanitize_detail(scrub(detail)))
    if result.ok:
        log.error("job.failed", reason=reason, detail=sanitize_detail(scrub(detail))[:500])
    else:
        log.info("job.fail_skipped", reason=result.reason, status=result.previous)
        if not _finished_without_preview(result.previous):
            return  # READY or moved on under a duplicate of this stage: not ours to tear down
    kill_sandboxes(svc, job_id)
    admit_next(svc)
