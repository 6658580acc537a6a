"""The sandbox reaper (a housekeeping task): kills the sandboxes nobody needs, and drops the
records of a lost host's sandboxes nothing uses any more."""

from __future__ import annotations

from collections import Counter

from actors.context import Services
from actors.sandbox.registry import SandboxRecord, this_host
from domain.logs import get_logger
from domain.status import Status
from domain.telemetry import Telemetry
from domain.wake import superseded

log = get_logger("kiln.housekeeping")


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
    gone = _lost_hosts(svc, records)
    for record in records:
        job = jobs.get(record.job_id)
        if record.runtime == "local" and record.host != this_host():
            # A local sandbox can only be killed on the host that created it. A lost host's
            # record is dropped once nothing uses it (its sandboxes died with it; should it
            # come back, its own sweep kills what is left unregistered, below).
            if record.host in gone and (job is None or job.terminal
                                        or job.sandbox_id != record.sandbox_id):
                svc.registry.remove(record.sandbox_id)
                log.info("reaper.dropped", sandbox_id=record.sandbox_id, job_id=record.job_id,
                         host=record.host, reason="host_gone")
                reasons["host_gone"] += 1
            continue
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


def _lost_hosts(svc: Services, records: list[SandboxRecord]) -> set[str]:
    """The hosts of other hosts' local sandboxes that have no heartbeat."""
    others = {r.host for r in records if r.runtime == "local" and r.host != this_host()}
    return others - svc.hosts.alive(others)
