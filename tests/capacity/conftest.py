"""Capacity fixtures: a store and a Capacity on a FixedClock, and users with projects."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from domain.capacity import Capacity
from domain.clock import next_utc_midnight
from domain.store import JobStore
from tests.support.clock import FixedClock

# 23:50 UTC tomorrow, so a test can cross midnight by advancing the clock ten minutes.
T0 = next_utc_midnight(time.time()) + 86_400 - 600


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def cstore(r, clock) -> JobStore:
    return JobStore(r, prefix="kiln", clock=clock)


@pytest.fixture
def make_capacity(cstore, clock) -> Callable[..., Capacity]:
    def make(**kwargs) -> Capacity:
        kwargs.setdefault("env", {})
        return Capacity(cstore, clock=clock, **kwargs)
    return make


@pytest.fixture
def new_project(cstore) -> Callable[[str], str]:
    def make(user_id: str) -> str:
        return cstore.create_project(user_id, f"{user_id}'s app")["project_id"]
    return make


def live_ids(store: JobStore) -> set[str]:
    return set(store.redis.zrange(store.keys.live_global(), 0, -1))


def free_slot(store: JobStore, job_id: str) -> None:
    """End a running build the way any terminal path does."""
    assert store.transition(job_id, "failed").ok


def finished_builds(store: JobStore, *seconds: float) -> None:
    """Record build durations for the ETA, oldest first, as a READY hand-off does (the hand-off
    itself, and its trimming to the window, is tested in tests/integration/test_hand_off.py)."""
    store.redis.lpush(store.keys.build_durations(), *(repr(float(s)) for s in seconds))
