"""The reliability suite's switches: the bounded run by default (CI), the full one by flag
(`bin/test tests/chaos --chaos-full`, or KILN_CHAOS_FULL=1 with any selection)."""

from __future__ import annotations

import os

import pytest

from tests.chaos.plan import BOUNDED, FULL, ChaosPlan

SUMMARY = pytest.StashKey[list[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--chaos-full", action="store_true", default=False,
                     help="run the full reliability suite (200 builds) instead of the bounded one")


def _full(config: pytest.Config) -> bool:
    return bool(config.getoption("--chaos-full", default=False)) or \
        os.environ.get("KILN_CHAOS_FULL") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    plan = FULL if _full(config) else BOUNDED
    for item in items:
        if item.nodeid.startswith("tests/chaos/"):
            item.add_marker(pytest.mark.timeout(plan.timeout_s))


@pytest.fixture
def chaos_plan(request: pytest.FixtureRequest) -> ChaosPlan:
    return FULL if _full(request.config) else BOUNDED


@pytest.fixture
def chaos_summary(request: pytest.FixtureRequest) -> list[str]:
    """Lines the run reports at the end of the session (shown even when output is captured)."""
    return request.config.stash.setdefault(SUMMARY, [])


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    lines = config.stash.get(SUMMARY, [])
    if lines:
        terminalreporter.section("Kiln reliability")
        for line in lines:
            terminalreporter.write_line(line)
