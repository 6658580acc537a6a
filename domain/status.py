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

# The last stage hands off as READY, or back to an earlier stage: the fix loop, which starts
# the job's next iteration there.
LAST_STAGE: Status = STAGES[-1]
FIX_LOOP_TO: Status = next(s for s in STAGES if s in TRANSITIONS[LAST_STAGE])

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

# What a FAILED build reads as when its user cancelled it (its status stays FAILED).
CANCELLED_LABEL = "Build cancelled"

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


def handed_to(stage: Status, iteration: int) -> tuple[Status, int]:
    """Where a stage's next message takes the job (and at which iteration): the next stage, or
    from the last stage (when it does not finish READY) the fix loop's next iteration."""
    after = next_stage(stage)
    return (FIX_LOOP_TO, iteration + 1) if after is None else (after, iteration)

