"""The pure state machine: table shape, labels, progress, stage order."""

from domain.status import (
    PROGRESS,
    STAGE_LABELS,
    STAGES,
    TERMINAL,
    TRANSITIONS,
    Status,
    next_stage,
)
from domain.tiers import Tier, limits_for
from domain.versions import build_number, build_version


def test_nine_statuses_and_terminal_set():
    assert [s.value for s in Status] == [
        "scheduled", "queued", "starting", "scaffold", "code", "deps", "checks", "ready", "failed"]
    assert {Status.READY, Status.FAILED} == TERMINAL
    for status in TERMINAL:
        assert TRANSITIONS[status] == frozenset()


def test_every_non_terminal_status_can_fail_and_fix_loop_exists():
    for status in Status:
        if status not in TERMINAL:
            assert Status.FAILED in TRANSITIONS[status]
    assert Status.SCAFFOLD in TRANSITIONS[Status.CHECKS]
    assert Status.QUEUED in TRANSITIONS[Status.SCHEDULED]
    assert Status.SCHEDULED not in TRANSITIONS[Status.QUEUED]


def test_labels_match_design_copy():
    assert STAGE_LABELS[Status.DEPS] == "Installing dependencies..."
    assert STAGE_LABELS[Status.READY] == "Build complete!"
    assert STAGE_LABELS[Status.SCAFFOLD] == "Scaffolding workspace..."
    assert set(STAGE_LABELS) == set(Status)


def test_progress_is_monotonic_along_the_pipeline():
    path = [Status.QUEUED, *STAGES, Status.READY]
    values = [PROGRESS[s] for s in path]
    assert values == sorted(values) and values[-1] == 1.0


def test_next_stage_follows_the_pipeline():
    assert next_stage(Status.STARTING) == Status.SCAFFOLD
    assert next_stage(Status.CHECKS) is None


def test_tier_table_and_overrides():
    assert limits_for(Tier.BOOTSTRAPPER).daily_jobs == 5
    assert limits_for("partner").queue_boost == 2
    assert limits_for(Tier.CTO_SCALE).fix_iterations == 5
    assert limits_for("partner", {"KILN_TIER_PARTNER_DAILY_JOBS": "80"}).daily_jobs == 80


def test_build_versions_round_trip():
    assert build_version(7) == "build_v0_7"
    assert build_number("build_v0_12") == 12
    for bad in ("build_v1_2", "v0_2", "build_v0_"):
        try:
            build_number(bad)
        except ValueError:
            continue
        raise AssertionError(bad)
