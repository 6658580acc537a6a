"""One actor per stage. Each is a plain function of its stage's work; the shared steps (enter,
cancel, duplicates, retries, send next, log context) are in `actors.stage`."""

from __future__ import annotations

import hashlib

from actors import leases
from actors.app_start import AppDidNotStart, start_app
from actors.generators.base import BaseVersion
from actors.stage import Next, Ready, StageContext, stage_actor
from actors.workspace import MANIFEST, install, read_manifest, skeleton
from domain.errors import SandboxGone, StageFailure
from domain.failures import Reason
from domain.logs import get_logger
from domain.preview import upstream_fields
from domain.settings import Settings
from domain.status import FIX_LOOP_TO, Status
from domain.tiers import limits_for

log = get_logger("kiln.stages")
# Time limits per stage: creating a sandbox or writing a skeleton is quick; generating code and
# running the app's checks may take up to KILN_STAGE_TIME_LIMIT_S (the watchdog's deadline is
# that plus a minute); deps is bounded by its install command's own timeout.
_LIMITS = Settings.from_env()


__all__ = ["StageFailure", "checks", "code", "deps", "scaffold", "starting"]


@stage_actor(Status.STARTING, time_limit_s=120)
def starting(ctx: StageContext) -> Next | None:
    svc, job = ctx.services, ctx.job
    seen = job.sandbox_id
    if seen:  # redelivered after a crash: reconnect instead of creating another
        try:
            svc.runtime.connect(seen)
            return None
        except SandboxGone:  # only gone means gone: a blip while asking is retried instead
            log.info("sandbox.reconnect_failed", sandbox_id=seen)
    # The provider's own timeout (e2b) is the lease; every stage entry pushes it along.
    sandbox = svc.runtime.create(
        job.job_id, {"kiln_job_id": job.job_id, "kiln_project_id": job.project_id},
        timeout_s=svc.settings.lease_s)
    # Recorded by the hand-off unless a twin run of this stage recorded its own first (then
    # this one is killed); a cancel meanwhile tears both down.
    return Next(sandbox=sandbox)


def _replays_generated_code(ctx: StageContext) -> bool:
    """A replay resuming at deps or checks walks scaffold and code again on the stored files."""
    return ctx.job.resume_at in (Status.DEPS, Status.CHECKS) and ctx.job.iteration == 0


def _base(ctx: StageContext) -> BaseVersion | None:
    """The version this build starts from (chosen when it started, domain/line.py), with its
    stored source tree; None for a fresh build."""
    job = ctx.job
    if not job.based_on_job:
        return None
    files = ctx.store.files(job.based_on_job)
    base_job = ctx.store.get_job(job.based_on_job)
    if not files or base_job is None:
        raise StageFailure(f"the files of {job.based_on}, which this build starts from, are gone")
    return BaseVersion(job.based_on or base_job.build_version or "", base_job.job_id,
                       base_job.goal, files)


def _start_files(ctx: StageContext, base: BaseVersion | None) -> dict[str, str]:
    """What the workspace starts from: the base version's files, or the skeleton."""
    return dict(base.files) if base else skeleton(ctx.job.goal)


@stage_actor(Status.SCAFFOLD, time_limit_s=60)
def scaffold(ctx: StageContext) -> None:
    # Every attempt of the fix loop starts again from the base (or the skeleton).
    files = _start_files(ctx, _base(ctx))
    if _replays_generated_code(ctx):
        files.update(ctx.store.files(ctx.job.job_id))  # restore the app a replay resumes
    ctx.sandbox().write_files(files)


@stage_actor(Status.CODE)
def code(ctx: StageContext) -> Next:
    job, store = ctx.job, ctx.store
    sandbox = ctx.sandbox()
    stored = store.files(job.job_id) if _replays_generated_code(ctx) else {}
    if stored:  # replaying a later stage: reuse the code, do not regenerate it
        sandbox.write_files(stored)
        return Next(files=stored, fields={"files_written": len(stored)})
    base = _base(ctx)
    workspace = {path: sandbox.read_file(path) for path in sandbox.list_files()
                 if not path.startswith((".venv/", "node_modules/"))}
    feedback = store.feedback(job.job_id) if job.iteration else None
    # `base` only when there is one: generators without it still serve fresh builds.
    extra = {"base": base} if base else {}
    written = ctx.services.generator.generate(job.goal, workspace, feedback, **extra)
    sandbox.write_files(written)
    # The stored files are the version's whole source tree (what later builds start from and
    # the export hands out): the start files with what the generator wrote over them.
    return Next(files={**_start_files(ctx, base), **written},
                fields={"files_written": len(written)})


@stage_actor(Status.DEPS, time_limit_s=_LIMITS.command_timeout_s + 30, reads_files=True)
def deps(ctx: StageContext) -> None:
    install(ctx.files(), ctx.run)


def _fingerprint(output: str) -> str:
    # Timings and temp paths differ between runs of the same failure; compare the shape only.
    lines = [line for line in output.splitlines() if not line.startswith(("Ran ", "----"))]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


@stage_actor(Status.CHECKS, reads_files=True)
def checks(ctx: StageContext) -> Next | Ready:
    job, store = ctx.job, ctx.store
    manifest = read_manifest(ctx.files().get(MANIFEST) or ctx.sandbox().read_file(MANIFEST))
    result = ctx.run(manifest.checks)
    if not result.ok:
        budget = limits_for(job.tier).fix_iterations
        fingerprint = _fingerprint(result.output)
        if job.iteration < budget and fingerprint != store.failure_fingerprint(job.job_id):
            store.set_feedback(job.job_id, result.output[-8000:], fingerprint)
            log.info("checks.fix_loop", iteration=job.iteration + 1, budget=budget)
            return Next(FIX_LOOP_TO, job.iteration + 1)
        raise StageFailure(f"checks failed (iteration {job.iteration}):\n{result.output}",
                           Reason.CHECKS_FAILED)
    try:  # a cancel meanwhile makes the READY hand-off refuse
        upstream = start_app(ctx.sandbox(), manifest, ctx.services.settings.preview_wait_s,
                             ctx.cancelled)
    except AppDidNotStart:
        leases.ensure_alive(ctx)  # a sandbox lost under the app is not the app's failure
        raise
    return Ready(upstream_fields(upstream))
