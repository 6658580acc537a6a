"""The steps every stage actor shares, in one place.

`stage_actor(stage)` turns a plain function `work(ctx) -> Next | Ready | None` into a Dramatiq
actor that: enters the stage in one Redis round trip (cancel check, duplicate check, delivery
count, transition), binds the job's log context, runs the work, then hands off in one more
(the stage's writes, the next stage's message, metrics and the acknowledgement: see
actors/handoff.py) — or tears down on cancel, or fails the job with the stage's friendly
message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage, TimeLimitExceeded

from actors import cancel_watch, context, leases, outage, teardown, telemetry_writer
from actors.handoff import Next, Ready, hand_off
from actors.sandbox.base import CommandResult, Sandbox
from domain.errors import Cancelled, SandboxGone, TransientError
from domain.failures import Reason
from domain.job import Job
from domain.logs import bind_job_context, clear_job_context, get_logger
from domain.messages import QUEUE, STAGE_ACTOR
from domain.settings import Settings
from domain.status import Status
from domain.store import JobStore
from domain.telemetry import Increments, counter, queue_wait_increments, stage_increments

log = get_logger("kiln.stage")
_SETTINGS = Settings.from_env()  # actor options (time limits, retries) are fixed at import


@dataclass
class StageContext:
    job: Job
    stage: Status
    services: context.Services
    entry_files: dict[str, str] | None = None  # read with the stage entry (reads_files=True)
    holder: str = ""  # the id of the message that holds the stage (this run's)
    _sandbox: Sandbox | None = field(default=None, repr=False)

    @property
    def store(self) -> JobStore:
        return self.services.store

    def files(self) -> dict[str, str]:
        """The job's stored files: from the entry's round trip when the stage asked for them."""
        if self.entry_files is not None:
            return self.entry_files
        return self.services.store.files(self.job.job_id)

    def cancelled(self) -> bool:
        """Polled about every 100 ms while the stage waits: answered from the process's shared
        poll of its stages' cancel flags (actors/cancel_watch.py), not a round trip each."""
        store = self.services.store
        return cancel_watch.watch.cancelled(store.redis, store.keys.cancel(self.job.job_id))

    def cancel_poll(self) -> bool:
        """`cancelled`, for a sandbox command's polling loop: a lost Redis connection means
        "cannot tell now" (TransientError), which the loop reads as not cancelled."""
        try:
            return self.cancelled()
        except outage.REDIS_DOWN as exc:
            raise TransientError("the cancel flag cannot be read now") from exc

    def sandbox(self) -> Sandbox:
        """The job's sandbox, connected once per run with its lease renewed; one that is gone
        is replaced (actors/leases.py)."""
        if self._sandbox is None:
            self._sandbox = leases.attach(self)
        return self._sandbox

    def run(self, command: str, egress: bool = False) -> CommandResult:
        """Run a command in the sandbox with the stage's timeout and cancel check. A command
        that failed because its sandbox vanished under it raises SandboxGone (the stage runs
        again on a replacement) instead of reading as the app's failure. `egress`: the command
        may reach the public internet (install steps, under KILN_SANDBOX_EGRESS=install)."""
        result = self.sandbox().run(command, timeout=self.services.settings.command_timeout_s,
                                    cancel_check=self.cancel_poll, egress=egress)
        if not result.ok:
            leases.ensure_alive(self)
        return result

    def forget_sandbox(self) -> None:
        self._sandbox = None


Work = Callable[[StageContext], Next | Ready | None]
__all__ = ["Next", "Ready", "StageContext", "stage_actor"]


def _retries_so_far() -> int:
    message = CurrentMessage.get_current_message()
    return message.options.get("retries", 0) if message else 0


def _run_stage(stage: Status, work: Work, job_id: str, attempt: int, iteration: int,
               reads_files: bool = False) -> None:
    svc = context.services()
    message = CurrentMessage.get_current_message()
    entry = svc.store.enter_stage(job_id, stage, attempt, iteration, svc.settings.max_deliveries,
                                  message.message_id if message else "", with_files=reads_files)
    job = entry.job
    bind_job_context(job_id=job_id, stage=stage.value, attempt=attempt,
                     debug_id=job.debug_id if job else None,
                     user_id=job.user_id if job else None)
    try:
        if entry.outcome in ("missing", "duplicate", "twin"):
            # A twin: this message's run already handed off (a frozen worker's copy came back).
            log.info("stage.dropped", outcome=entry.outcome, status=entry.status)
            return
        if entry.outcome == "cancelled":
            _record(svc, counter("stage_cancels", stage.value))
            teardown.after_cancel(svc, job_id)
            return
        if entry.outcome == "exhausted":
            _record(svc, counter("stage_worker_lost", stage.value))
            log.error("stage.worker_lost", deliveries=svc.settings.max_deliveries)
            teardown.fail(svc, job_id, stage, Reason.WORKER_LOST,
                          f"{stage.value} was delivered more than "
                          f"{svc.settings.max_deliveries} times without finishing")
            return
        # A resume is worth a line; a normal entry is debug detail.
        (log.info if entry.outcome == "resumed" else log.debug)(
            "stage.entered", outcome=entry.outcome, iteration=iteration)
        if entry.outcome == "resumed":  # a crash, a shutdown or a retry brought it back
            _record(svc, counter("stage_redeliveries", stage.value))
        elif message is not None:  # how long the message waited for a worker: a figure only
            _record(svc, queue_wait_increments(
                stage.value, time.time() - message.message_timestamp / 1000))
        ctx = StageContext(job, stage, svc, entry.files, message.message_id if message else "")
        _do_work(svc, ctx, work)
    finally:
        clear_job_context()


def _do_work(svc: context.Services, ctx: StageContext, work: Work) -> None:
    started = time.monotonic()
    outcome = "error"  # an unexpected exception escaped the stage's own handling
    try:
        with cancel_watch.watch.watching(svc.store.redis, svc.store.keys.cancel(ctx.job.job_id)):
            outcome = _work_outcome(svc, ctx, work)
    except TransientError:
        outcome = "retry"
        raise
    finally:
        _record(svc, stage_increments(ctx.stage.value, outcome, time.monotonic() - started))


def _record(svc: context.Services, increments: Increments) -> None:
    # Summed in memory, written by the process's metrics thread: no Redis on this thread.
    telemetry_writer.writer.add(svc.store.redis, svc.store.prefix, increments)


def _work_outcome(svc: context.Services, ctx: StageContext, work: Work) -> str:
    job, stage = ctx.job, ctx.stage
    started = time.monotonic()
    try:
        result = _on_live_sandbox(ctx, work)
    except Cancelled:
        teardown.after_cancel(svc, job.job_id)
        return "cancelled"
    except TimeLimitExceeded:
        teardown.fail(svc, job.job_id, stage, Reason.STAGE_ERROR,
                      f"{stage.value} ran past its time limit")
        return "failed"
    except TransientError as exc:
        if _retries_so_far() < svc.settings.max_retries and not ctx.cancelled():
            log.warning("stage.retrying", error=str(exc))
            raise  # Retries middleware re-runs the message with backoff
        teardown.fail(svc, job.job_id, stage, Reason.STAGE_ERROR, str(exc))
        return "failed"
    except outage.REDIS_DOWN:
        raise  # not the build's failure: the actor waits for Redis and runs the stage again
    except Exception as exc:  # deliberately any: this stage's failure, never a lost job
        log.exception("stage.failed")
        teardown.fail(svc, job.job_id, stage, getattr(exc, "reason", Reason.STAGE_ERROR),
                      f"{type(exc).__name__}: {exc}")
        return "failed"
    seconds = time.monotonic() - started
    # Per stage at debug: a build's INFO lines are its end (job.ready / job.failed) and anything
    # unusual (a resume, a retry, a cancel); stage timings are in the record and the metrics.
    log.debug("stage.done", seconds=round(seconds, 3))
    return hand_off(ctx, result)


def _on_live_sandbox(ctx: StageContext, work: Work) -> Next | Ready | None:
    """Run the work; if the sandbox is lost under it (reaped, timed out at the provider, host
    gone), run it again: `ctx.sandbox()` then replaces it. The replacement budget bounds it."""
    for _ in range(ctx.services.settings.max_sandbox_replacements):
        try:
            return work(ctx)
        except SandboxGone as exc:
            if ctx.stage == Status.STARTING or ctx.cancelled():
                raise
            log.warning("stage.sandbox_lost", error=str(exc))
            ctx.forget_sandbox()
    return work(ctx)


def stage_actor(stage: Status, time_limit_s: int | None = None,
                reads_files: bool = False) -> Callable[[Work], Any]:
    """Declare `work` as the actor of `stage` on Kiln's one queue. `reads_files`: the stage
    gets the job's files with its entry (`ctx.files()`), saving a round trip."""

    def decorate(work: Work) -> dramatiq.Actor:
        def run(job_id: str, attempt: int = 1, iteration: int = 0) -> None:
            try:
                _run_stage(stage, work, job_id, attempt, iteration, reads_files)
            except outage.REDIS_DOWN as exc:
                outage.on_redis_down(context.services().store.redis, exc)
                raise  # Retries re-runs the message once Redis is back (outage.retry_when)

        run.__name__ = run.__qualname__ = STAGE_ACTOR[stage]
        limit = time_limit_s or _SETTINGS.stage_time_limit_s
        # Only transient errors (while _do_work re-raises them) and lost Redis connections.
        return dramatiq.actor(
            run, actor_name=STAGE_ACTOR[stage], queue_name=QUEUE, time_limit=limit * 1000,
            retry_when=outage.retry_when,
        )

    return decorate
