"""The wake of an expired preview (domain/wake.py): a new sandbox, the build's stored files,
its dependencies, and the app started as `checks` starts it (actors/app_start.py). The job
stays READY throughout; a failure is reported on the wake's mark (the page visitors see) and
never touches the build's status.
"""

from __future__ import annotations

import dramatiq

from actors import context, leases, teardown
from actors.app_start import AppDidNotStart, start_app
from actors.context import Services
from actors.sandbox.base import Sandbox
from actors.workspace import MANIFEST, install, read_manifest, skeleton
from domain.failures import sanitize_detail
from domain.job import Job
from domain.logs import bind_job_context, clear_job_context, get_logger, scrub
from domain.messages import QUEUE
from domain.preview import upstream_fields
from domain.settings import Settings
from domain.status import Status
from domain.wake import WAKE_ACTOR, Wakes, wake_limit_s

log = get_logger("kiln.wake")


class WakeFailed(Exception):
    """A wake's end with the code visitors see (domain/wake.py: FAILURES)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


class Superseded(Exception):
    """The mark is another wake's now (this one's expired meanwhile): stop quietly."""


def _bring_up(svc: Services, wakes: Wakes, job: Job, wake_id: str) -> tuple[Sandbox, str]:
    """A new sandbox with the build's files and dependencies and its app answering; returns
    it with the preview's upstream. The sandbox is killed on any way out but success."""
    stored = svc.store.files(job.job_id)
    if not stored:
        raise WakeFailed("wake_files_gone", "the build's stored files are gone")
    files = skeleton(job.goal) | stored  # as a replacement sandbox is restored (leases.py)
    sandbox = svc.runtime.create(job.job_id, {"kiln_job_id": job.job_id,
                                              "kiln_project_id": job.project_id},
                                 timeout_s=svc.settings.lease_s)

    def step(name: str) -> None:
        if wakes.step(job.job_id, wake_id, name, sandbox.id)[0] != "ok":
            raise Superseded()

    try:
        step("restore")
        sandbox.write_files(files)
        step("install")
        timeout = svc.settings.command_timeout_s
        try:
            install(files, lambda command, egress: sandbox.run(command, timeout=timeout,
                                                               egress=egress))
        except Exception as exc:  # the app's own failure, or a timeout: the wake's end
            raise WakeFailed("wake_install_failed", str(exc)) from exc
        step("start")
        try:
            upstream = start_app(sandbox, read_manifest(files.get(MANIFEST)),
                                 svc.settings.preview_wait_s, lambda: False)
        except AppDidNotStart as exc:
            raise WakeFailed("wake_app_failed", str(exc)) from exc
    except BaseException:
        sandbox.kill()
        raise
    return sandbox, upstream


def _record(svc: Services, wakes: Wakes, job: Job, wake_id: str, sandbox: Sandbox,
            upstream: str) -> str:
    expires = svc.store.clock.now() + svc.settings.preview_ttl_s
    try:
        outcome, before = wakes.done(job.job_id, job.user_id, job.project_id, wake_id,
                                     sandbox.id, expires, upstream_fields(upstream),
                                     svc.registry.key)
    except BaseException:
        sandbox.kill()
        raise
    if outcome != "ok":
        sandbox.kill()
        return outcome
    leases.renew(svc, sandbox.id, expires)  # e2b: the provider's timeout follows the preview
    if before and before != sandbox.id:
        svc.runtime.kill(before)  # expired or reaped already; harmless when gone
    log.info("wake.done", sandbox_id=sandbox.id)
    return "woken"


def run_wake(svc: Services, job_id: str, wake_id: str) -> str:
    """One delivery of a wake's message; returns its outcome (for logs and tests)."""
    wakes = Wakes(svc.store, svc.settings)
    outcome, dead_run = wakes.step(job_id, wake_id, "claim",
                                   max_deliveries=svc.settings.max_deliveries)
    if dead_run:
        svc.runtime.kill(dead_run)  # a run of this wake whose worker died
    job = svc.store.get_job(job_id)
    if outcome == "stale" or job is None:
        return "stale"  # another wake's mark, or none (it expired; a missing job's with it)
    try:
        if outcome == "exhausted":
            raise WakeFailed("wake_failed", "its workers kept dying")
        if job.status != Status.READY:
            raise WakeFailed("wake_failed", f"the build is {job.status.value}")
        sandbox, upstream = _bring_up(svc, wakes, job, wake_id)
        result = _record(svc, wakes, job, wake_id, sandbox, upstream)
    except Superseded:
        return "stale"
    except BaseException as exc:  # a time limit too: visitors see it failed
        code = exc.code if isinstance(exc, WakeFailed) else "wake_failed"
        detail = sanitize_detail(scrub(str(exc) or type(exc).__name__))
        log.warning("wake.failed", code=code, detail=detail[:500])
        wakes.fail(job_id, job.user_id, job.project_id, wake_id, code, detail[:2000])
        teardown.admit_next(svc)  # its slot is free again
        if not isinstance(exc, Exception):
            raise
        return code
    teardown.admit_next(svc)
    return result


def wake_preview(job_id: str, wake_id: str) -> None:
    svc = context.services()
    bind_job_context(job_id=job_id)
    try:
        run_wake(svc, job_id, wake_id)
    finally:
        clear_job_context()


# No retries: a failed wake is reported, and a later visit starts another.
wake_actor = dramatiq.actor(wake_preview, actor_name=WAKE_ACTOR, queue_name=QUEUE,
                            max_retries=0,
                            time_limit=wake_limit_s(Settings.from_env()) * 1000)
