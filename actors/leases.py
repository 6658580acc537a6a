"""A live build's sandbox follows the build: leased while the build makes progress, replaced
when it is gone.

- The lease Kiln keeps is the job's `lease_until`, renewed at every stage entry and hand-off and
  whenever the watchdog finds the job waiting for a worker (in those same scripts, at no extra
  Redis command); the reaper takes a live build's sandbox only once it has passed.
  A provider's own timeout (e2b) is pushed along here, through the runtime's `extend`.
- A sandbox that is gone mid-build (reaped, timed out at the provider, its host lost) is
  replaced: a new sandbox gets the skeleton and the job's stored files (and, for `checks`,
  the installed dependencies), and is recorded on the job with a compare-and-set, counted,
  up to KILN_MAX_SANDBOX_REPLACEMENTS per build.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from actors import telemetry_writer
from actors.hosts import sandbox_host
from actors.sandbox.base import Sandbox
from actors.workspace import install, skeleton
from domain.errors import Cancelled, KilnError, SandboxGone
from domain.logs import get_logger
from domain.status import Status
from domain.telemetry import counter

if TYPE_CHECKING:
    from actors.context import Services
    from actors.stage import StageContext

log = get_logger("kiln.sandbox")


# sandbox id -> when this process last pushed its provider-side timeout (monotonic seconds)
_renewed: dict[str, float] = {}


def renew(svc: Services, sandbox_id: str | None, until: float | None = None) -> None:
    """Push the provider-side timeout of a build's sandbox to `until` (default now + the
    lease; a READY preview's expiry). Runtimes without such a timeout have no `extend`. A
    default renewal is skipped when this process made one in the last quarter lease: the
    timeout still outlasts a running stage then, and for e2b each one is an HTTP call. Best
    effort: the next renewal tries again."""
    extend = getattr(svc.runtime, "extend", None)
    if not sandbox_id or extend is None:
        return
    now, lease = time.monotonic(), svc.settings.lease_s
    if until is None and now - _renewed.get(sandbox_id, -lease) < lease / 4:
        return
    try:
        extend(sandbox_id, until or svc.store.clock.now() + lease)
    except SandboxGone:
        return  # the stage that needs it next replaces it
    except KilnError as exc:  # the provider refused or is away: not the stage's (or sweep's) end
        log.warning("sandbox.renew_failed", sandbox_id=sandbox_id, error=type(exc).__name__)
        return
    _renewed[sandbox_id] = now
    if len(_renewed) > 10_000:  # forget sandboxes long done with
        for old in [sid for sid, at in list(_renewed.items()) if now - at > lease]:
            _renewed.pop(old, None)


def attach(ctx: StageContext) -> Sandbox:
    """The job's sandbox for this stage run, its lease renewed; a gone one is replaced."""
    svc, job = ctx.services, ctx.job
    if not job.sandbox_id:
        raise RuntimeError("the job has no sandbox yet")
    try:
        sandbox = svc.runtime.connect(job.sandbox_id)
    except SandboxGone:
        return replace(ctx)
    renew(svc, sandbox.id)
    return sandbox


def ensure_alive(ctx: StageContext) -> None:
    """After a failed command: if the sandbox itself is gone (killed under the command), raise
    SandboxGone, so the stage runs again on a replacement instead of failing the build."""
    if ctx.job.sandbox_id:
        ctx.services.runtime.connect(ctx.job.sandbox_id)


def replace(ctx: StageContext) -> Sandbox:
    svc, job = ctx.services, ctx.job
    lost, limit = job.sandbox_id or "", svc.settings.max_sandbox_replacements
    if job.sandbox_replacements >= limit:
        raise SandboxGone(f"sandbox {lost} is gone, after {limit} replacements already")
    if ctx.cancelled():
        raise Cancelled()
    new = svc.runtime.create(job.job_id, {"kiln_job_id": job.job_id,
                                          "kiln_project_id": job.project_id},
                             timeout_s=svc.settings.lease_s)
    try:
        _restore(ctx, new)
        host = sandbox_host(svc.runtime)
        outcome, current = svc.store.replace_sandbox(job.job_id, ctx.stage, ctx.holder, lost,
                                                     new.id, limit, host)
    except BaseException:
        new.kill()
        raise
    if outcome != "replaced":
        new.kill()
        if outcome == "raced":  # a twin run of this stage replaced it first: work on that one
            return svc.runtime.connect(current)
        if outcome == "exhausted":
            raise SandboxGone(f"sandbox {lost} is gone, after {limit} replacements already")
        raise Cancelled()  # cancelled, or the job moved on without this run
    svc.runtime.kill(lost)  # harmless when it is gone; drops its registry record
    job.sandbox_id, job.sandbox_replacements = new.id, job.sandbox_replacements + 1
    job.sandbox_host = host  # the stages after this one go to this host's queue
    telemetry_writer.writer.add(svc.store.redis, svc.store.prefix,
                                counter("sandbox_replacements", ctx.stage.value))
    log.warning("sandbox.replaced", lost=lost, sandbox_id=new.id,
                replacements=job.sandbox_replacements)
    return new


def _restore(ctx: StageContext, sandbox: Sandbox) -> None:
    """What the build had made before this stage: the skeleton and the files its code stage
    stored (the previous iteration's in the fix loop), as a replay restores them; `checks`
    also needs the app's dependencies installed (`deps` installs them itself)."""
    files = skeleton(ctx.job.goal) | ctx.store.files(ctx.job.job_id)
    sandbox.write_files(files)
    if ctx.stage == Status.CHECKS:
        timeout = ctx.services.settings.command_timeout_s
        install(files, lambda command, egress: sandbox.run(
            command, timeout=timeout, cancel_check=ctx.cancel_poll, egress=egress))
