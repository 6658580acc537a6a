"""The state machine of a build job: statuses, legal transitions, labels and progress."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    STARTING = "starting"
    SCAFFOLD = "scaffold"
    CODE = "code"
    DEPS = "deps"
    CHECKS = "checks"
    READY = "ready"
    FAILED = "failed"


S = Status

# The only legal moves. READY and FAILED have none: nothing leaves a terminal state (an
# operator's replay opens a new attempt instead, see JobStore.reopen).
TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.SCHEDULED: frozenset({S.QUEUED, S.FAILED}),
    S.QUEUED: frozenset({S.STARTING, S.FAILED}),
    S.STARTING: frozenset({S.SCAFFOLD, S.FAILED}),
    S.SCAFFOLD: frozenset({S.CODE, S.FAILED}),
    S.CODE: frozenset({S.DEPS, S.FAILED}),
    S.DEPS: frozenset({S.CHECKS, S.FAILED}),
    S.CHECKS: frozenset({S.READY, S.SCAFFOLD, S.FAILED}),  # checks -> scaffold is the fix loop
    S.READY: frozenset(),
    S.FAILED: frozenset(),
}

TERMINAL: frozenset[Status] = frozenset({S.READY, S.FAILED})

# The stages a worker runs, in order. A message for stage N is sent after stage N-1's work.
STAGES: tuple[Status, ...] = (S.STARTING, S.SCAFFOLD, S.CODE, S.DEPS, S.CHECKS)

STAGE_LABELS: dict[Status, str] = {
    S.SCHEDULED: "Scheduled",
    S.QUEUED: "Queued...",
    S.STARTING: "Starting...",
    S.SCAFFOLD: "Scaffolding workspace...",
    S.CODE: "Writing code...",
    S.DEPS: "Installing dependencies...",
    S.CHECKS: "Running checks...",
    S.READY: "Build complete!",
    S.FAILED: "Build failed",
}

PROGRESS: dict[Status, float] = {
    S.SCHEDULED: 0.0,
    S.QUEUED: 0.0,
    S.STARTING: 0.1,
    S.SCAFFOLD: 0.25,
    S.CODE: 0.45,
    S.DEPS: 0.65,
    S.CHECKS: 0.85,
    S.READY: 1.0,
    S.FAILED: 1.0,
}


def next_stage(stage: Status) -> Status | None:
    """The stage after `stage` in the pipeline; None after checks (ready comes next)."""
    index = STAGES.index(stage)
    return STAGES[index + 1] if index + 1 < len(STAGES) else None
