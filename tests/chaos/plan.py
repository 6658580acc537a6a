"""What one chaos run does: how many jobs, how hard the workers are hit, and its deadlines."""

from __future__ import annotations

from dataclasses import dataclass

# Users of every tier, so the per-user and per-project caps shape admission alongside the
# global cap. Each user builds in two projects.
USERS: tuple[tuple[str, str], ...] = (
    ("chaos-boot-1", "bootstrapper"), ("chaos-boot-2", "bootstrapper"),
    ("chaos-partner-1", "partner"), ("chaos-partner-2", "partner"),
    ("chaos-cto-1", "cto_scale"), ("chaos-cto-2", "cto_scale"),
)
PROJECTS_PER_USER = 2


@dataclass(frozen=True)
class ChaosPlan:
    jobs: int
    submit_every_s: float  # pace of new builds (the load overlaps the kills and the restart)
    kill_every_s: tuple[float, float]  # a worker is SIGKILLed (or frozen) after a random pause
    chaos_s: float  # kills stop after this long (or once every job is terminal)
    settle_s: float  # then every job must be terminal within this deadline
    worker_clis: int = 2  # supervised `dramatiq actors --processes 1` CLIs
    threads: int = 2
    redis_restart_at: float = 0.4  # restart Redis once this fraction of jobs is submitted
    redis_outage_s: float = 3.0  # how long it stays down
    cancel_fraction: float = 0.1  # some users cancel their build at a random moment
    freeze_fraction: float = 0.25  # of the chaos actions: SIGSTOP past the heartbeat, not kill
    global_cap: int = 6
    max_deliveries: int = 25  # random kills must rarely exhaust a stage (worker_lost)
    heartbeat_timeout_ms: int = 3000
    seed: int = 20261127

    @property
    def freeze_s(self) -> float:
        """Frozen long enough for another worker to take its messages over."""
        return self.heartbeat_timeout_ms / 1000 * 2 + 3

    @property
    def timeout_s(self) -> float:
        """A hard bound for the whole test (pytest-timeout), past every deadline of the run."""
        return self.jobs * self.submit_every_s + self.chaos_s + self.settle_s + 120


# CI: a few kills and one Redis restart, ~30 builds, well under 90 s on 2 cores.
BOUNDED = ChaosPlan(jobs=30, submit_every_s=0.5, kill_every_s=(3.0, 6.0), chaos_s=30.0,
                    settle_s=60.0)

# By flag (--chaos-full or KILN_CHAOS_FULL=1): 200 builds, a kill every few seconds throughout.
FULL = ChaosPlan(jobs=200, submit_every_s=0.6, kill_every_s=(2.0, 5.0), chaos_s=240.0,
                 settle_s=180.0)
