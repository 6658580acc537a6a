"""The project line's rules on plain data: which version the next build starts from, and which
one is the foundation, after each kind of history."""

from __future__ import annotations

from domain.line import Version, plan


def v(n: int, ready_at: float, decision: str | None = None, decided_at: float | None = None,
      based_on: int | None = None) -> Version:
    return Version(f"build_v0_{n}", f"job-{n}", f"goal {n}",
                   f"build_v0_{based_on}" if based_on else None, ready_at - 5, ready_at,
                   decision=decision, decided_at=decided_at)


def names(line) -> tuple[str | None, str | None]:
    return (line.base.build_version if line.base else None,
            line.foundation.build_version if line.foundation else None)


def test_no_version_yet_starts_fresh():
    assert names(plan([])) == (None, None)


def test_a_ready_version_without_a_decision_is_the_base():
    assert names(plan([v(1, 10)])) == ("build_v0_1", None)


def test_iterate_then_a_newer_version_moves_the_base_forward():
    line = plan([v(1, 10, "iterate", 11), v(2, 20, based_on=1)])
    assert names(line) == ("build_v0_2", None)


def test_solidify_makes_the_foundation_and_failed_builds_never_move_it():
    # A failed later build is not a version: the history has nothing more to say.
    assert names(plan([v(1, 10, "solidify", 11)])) == ("build_v0_1", "build_v0_1")


def test_a_version_built_on_the_foundation_becomes_the_base_and_the_foundation_stays():
    line = plan([v(1, 10, "solidify", 11), v(2, 20, based_on=1)])
    assert names(line) == ("build_v0_2", "build_v0_1")


def test_abandon_ends_the_line_and_its_foundation():
    assert names(plan([v(1, 10, "abandon", 11)])) == (None, None)
    assert names(plan([v(1, 10, "solidify", 11), v(2, 20, "abandon", 21, based_on=1)])) == \
        (None, None)


def test_a_fresh_version_after_an_abandon_starts_a_new_line():
    line = plan([v(1, 10, "abandon", 11), v(2, 20)])
    assert names(line) == ("build_v0_2", None)


def test_the_latest_event_wins_an_explicit_iterate_on_an_older_version():
    line = plan([v(2, 20), v(1, 10, "iterate", 30)])
    assert names(line) == ("build_v0_1", None)
    assert [x.build_version for x in line.versions] == ["build_v0_1", "build_v0_2"]


def test_a_decision_without_a_time_counts_at_its_version():
    assert names(plan([v(1, 10, "solidify"), v(2, 20)])) == ("build_v0_2", "build_v0_1")
