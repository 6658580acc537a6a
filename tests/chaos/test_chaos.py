"""Reliability under chaos: builds keep their invariants while worker processes are SIGKILLed
at random and Redis restarts on its append-only file (DESIGN.md invariants 1, 2, 4, 5)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from actors.sandbox.local import LocalRuntime
from actors.sandbox.registry import SandboxRegistry
from tests.chaos import invariants, report
from tests.chaos.cluster import ChaosCluster
from tests.chaos.driver import ChaosDriver
from tests.chaos.plan import ChaosPlan

# What chaos may legitimately end a build with: the user's cancel, or a stage whose worker
# was killed more than KILN_MAX_DELIVERIES times (counted and reported).
ALLOWED_FAILURES = {"cancelled", "worker_lost"}


def _settled(check: Callable[[], list[str]], timeout: float) -> list[str]:
    """Poll a check until it passes or its deadline: housekeeping (reaper sweeps every 2 s,
    failed jobs' sandboxes after the cancel hard deadline) may still be finishing."""
    deadline = time.monotonic() + timeout
    while True:
        problems = check()
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(0.25)


def _cleanup(cluster: ChaosCluster, registry: SandboxRegistry) -> None:
    runtime = LocalRuntime(cluster.sandbox_root, registry)
    for record in registry.all():
        runtime.kill(record.sandbox_id)
    for sandbox_id, _meta in runtime.list_live():
        runtime.kill(sandbox_id)


def test_builds_keep_their_invariants_through_worker_kills_and_a_redis_restart(
        chaos_plan: ChaosPlan, tmp_path: Path, chaos_summary: list[str]) -> None:
    with ChaosCluster(tmp_path, chaos_plan) as cluster:
        driver = ChaosDriver(cluster, chaos_plan)
        registry = SandboxRegistry(driver.store.redis)
        try:
            log = driver.run()
            store = driver.store

            def jobs():
                return {j.job_id: j for j in store.get_jobs(log.job_ids)}

            final = jobs()
            violations = invariants.stuck(list(final.values()), store)
            violations += invariants.event_paths(list(final.values()), store)
            violations += invariants.build_versions(log.projects, final, store)
            violations += _settled(lambda: invariants.slots(store), 10)
            violations += _settled(lambda: invariants.sandboxes(
                jobs(), registry, cluster.sandbox_root, cluster.created_sandboxes()), 15)
            violations += [f"failure: {j.job_id} failed {j.error_code} at {j.failed_stage}: "
                           f"{(j.error_detail or '')[:300]}" for j in final.values()
                           if j.status == "failed" and j.error_code not in ALLOWED_FAILURES]
            figures = report.figures(chaos_plan, log, cluster, list(final.values()), store)
            line = report.write(tmp_path / "chaos-report.json", figures)
            chaos_summary += [line, f"worker logs and report: {tmp_path}"]
            chaos_summary += violations[:50]
        finally:
            _cleanup(cluster, registry)
            driver.close()
    assert len(log.job_ids) == chaos_plan.jobs, (
        f"{len(log.job_ids)} of {chaos_plan.jobs} builds submitted before the deadline; "
        f"starts refused as queue full: {log.queue_full}")
    assert cluster.redis_restarts == 1 and cluster.kills >= 3, figures
    assert not violations, "\n".join(violations[:50])
