"""How a stage that did its work leaves it: one round trip (domain/handoff.py) writes what the
stage made, queues the next stage's message (or finishes READY) and acknowledges the message
that ran the stage. Then, in Python, only what that round trip cannot do: kill a sandbox a
twin run made redundant, start jobs admitted into a freed slot, tear down after a cancel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dramatiq.middleware import CurrentMessage

from actors import leases, teardown
from actors.consumer import mark_handed_off
from actors.hosts import sandbox_host
from actors.sandbox.base import Sandbox
from domain.handoff import HandOffResult, Writes
from domain.hosts import queue_for
from domain.logs import get_logger
from domain.messages import stage_message
from domain.status import Status, handed_to

if TYPE_CHECKING:
    from actors.stage import StageContext

log = get_logger("kiln.stage")


@dataclass(frozen=True)
class Next:
    """Hand the job on, with what the stage made (written only while it still holds the
    stage). By default to the following stage; from the last stage, to the fix loop's next
    iteration (domain/status.py: handed_to)."""

    stage: Status | None = None
    iteration: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] | None = None
    sandbox: Sandbox | None = None  # created by this run: recorded unless a twin's came first


@dataclass(frozen=True)
class Ready:
    """The build is done: record the preview and finish READY."""

    fields: dict[str, Any] = field(default_factory=dict)


def hand_off(ctx: StageContext, result: Next | Ready | None) -> str:
    """Hand off; returns the stage's outcome for its metrics."""
    svc, job, stage = ctx.services, ctx.job, ctx.stage
    message = CurrentMessage.get_current_message()
    holder = message.message_id if message else ""
    result = result or Next()
    created = result.sandbox if isinstance(result, Next) else None
    # The next stage goes to the queue of the host holding the job's sandbox (domain/hosts.py).
    host = sandbox_host(svc.runtime) if created else job.sandbox_host
    queue = queue_for(host)
    fields = result.fields if isinstance(result, Ready) else {**result.fields, "next_queue": queue}
    writes = Writes(fields=fields, files=getattr(result, "files", None),
                    claim=(job.sandbox_id or "", created.id, host or "") if created else None)
    expires = svc.store.clock.now() + svc.settings.preview_ttl_s
    if isinstance(result, Ready):
        delivery = svc.broker.delivery(message, None)
        res = svc.handoff.ready(job, holder, writes, delivery, expires, svc.capacity)
        queue = None
    else:
        to, iteration = handed_to(stage, job.iteration)
        send = stage_message(result.stage or to, job.job_id, job.attempt,
                             iteration if result.iteration is None else result.iteration,
                             queue=queue)
        delivery = svc.broker.delivery(message, send)
        res = svc.handoff.next_stage(job.job_id, stage, holder, writes, delivery)
    if res.acknowledged and message is not None and delivery.ack_id:
        # The script acknowledged it (only a message of the queue it wrote: another queue's
        # consumer acknowledges its own), so its consumer must not.
        mark_handed_off(message)
    if created is not None and res.sandbox_id != created.id:
        created.kill()  # a twin run recorded its own first, or the job moved on
    return _after(ctx, res, result, expires, queue)


def _after(ctx: StageContext, res: HandOffResult, result: Next | Ready, expires: float,
           queue: str | None) -> str:
    svc, job_id = ctx.services, ctx.job.job_id
    if res.outcome == "handed_off":
        if queue is not None:
            svc.broker.wake_consumers(queue)
        return "done"
    if res.outcome == "ready":
        started = ctx.job.timestamps.get("starting", ctx.job.created_at)
        log.info("job.ready", preview_upstream=result.fields.get("preview_upstream"),
                 build_seconds=round(svc.store.clock.now() - started, 3))
        leases.renew(svc, res.sandbox_id, expires)  # the preview outlives the build's lease
        teardown.start_admitted(svc, res.admitted)
        return "done"
    if res.outcome == "twin":  # the same stage ran twice and the other run handed off first
        log.info("stage.twin_dropped")
        return "duplicate"
    # Cancelled, or the job moved on without this run (a watchdog take-over, a failure).
    teardown.after_cancel(svc, job_id)
    return "cancelled" if res.outcome == "cancelled" else "superseded"
