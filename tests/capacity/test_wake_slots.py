"""A wake's sandbox slot (domain/wake.py, its Lua scripts), on a real Redis: it counts
against the owner's tier caps and the global cap like a running build, is freed by the wake's
end or, when its worker died (the mark expired), by the housekeeper's reap_slots; a wake is not
a build: the daily quota does not move. A message of an older wake is stale; a wake whose
workers keep dying is exhausted."""

from __future__ import annotations

import pytest

from domain.capacity import Capacity
from domain.settings import Settings
from domain.status import Status
from domain.store import JobStore
from domain.tiers import limits_for
from domain.wake import Wakes, superseded
from tests.support.clock import FixedClock
from tests.web.conftest import walk


@pytest.fixture
def store(r) -> JobStore:
    return JobStore(r, prefix="kiln", clock=FixedClock(1_800_000_000.0))


@pytest.fixture
def parts(store, r):
    clock = store.clock
    capacity = Capacity(store, clock=clock, global_cap=4, env={})
    wakes = Wakes(store, Settings(wake_retry_s=30))
    project = store.create_project("user-1", "Wakes")["project_id"]
    job = store.create_job(project, "user-1", "partner", "a todo app", status=Status.CHECKS)
    walk(store, job.job_id, Status.READY)
    store.update(job.job_id, Status.READY, sandbox_id="sb-old")
    return clock, capacity, wakes, project, job.job_id


def _begin(wakes: Wakes, capacity: Capacity, job_id: str, project: str, seen: str = "sb-old"):
    return wakes.begin(job_id, "user-1", project, seen, limits_for("partner", {}),
                       capacity.global_cap)


def test_a_wake_holds_a_slot_within_the_caps_and_not_the_daily_quota(parts, store, r):
    clock, capacity, wakes, project, job_id = parts
    used = capacity.usage("user-1", "partner")["jobs_used"]
    view = _begin(wakes, capacity, job_id, project)
    assert view.outcome == "started" and view.wake_id
    assert _begin(wakes, capacity, job_id, project).outcome == "waking"  # one wake at a time
    assert r.zscore(store.keys.live_global(), f"wake:{job_id}") is not None
    usage = capacity.usage("user-1", "partner")
    assert usage["running"] == 1 and usage["jobs_used"] == used

    # The owner's builds fill the rest of the partner cap (3): the next one waits.
    decisions = [capacity.start(project, "user-1", "partner", f"b{i}") for i in range(3)]
    assert [bool(d.admitted) for d in decisions] == [True, True, False]

    # The wake ends: its slot goes back, and admission lets the waiting build in.
    wakes.fail(job_id, "user-1", project, view.wake_id, "wake_failed", "x")
    assert capacity.admit() == [(decisions[2].job.job_id, 1)]


def test_a_full_cap_starts_no_wake(parts, store, r):
    clock, capacity, wakes, project, job_id = parts
    for i in range(3):
        assert capacity.start(project, "user-1", "partner", f"b{i}").admitted
    view = _begin(wakes, capacity, job_id, project)
    assert (view.outcome, view.code) == ("quota", "user")
    assert not r.exists(store.keys.wake(job_id))


def test_a_dead_wakes_slot_is_reaped_and_a_failure_is_shown_until_the_retry(parts, store, r):
    clock, capacity, wakes, project, job_id = parts
    view = _begin(wakes, capacity, job_id, project)
    assert capacity.reap_slots() == []  # a running wake keeps its slot
    r.delete(store.keys.wake(job_id))  # its mark expired: its worker died
    assert capacity.reap_slots() == [f"wake:{job_id}"]
    assert r.scard(store.keys.live_user("user-1")) == 0

    view = _begin(wakes, capacity, job_id, project)
    assert wakes.fail(job_id, "user-1", project, view.wake_id, "wake_install_failed", "exit 3")
    failed = _begin(wakes, capacity, job_id, project)
    assert (failed.outcome, failed.code) == ("failed", "wake_install_failed")
    clock.advance(31)
    assert _begin(wakes, capacity, job_id, project).outcome == "started"


def test_a_stale_or_exhausted_wake_message_does_nothing(parts, store, r):
    clock, capacity, wakes, project, job_id = parts
    old = _begin(wakes, capacity, job_id, project).wake_id
    r.delete(store.keys.wake(job_id))
    new = _begin(wakes, capacity, job_id, project).wake_id
    assert wakes.step(job_id, old, "claim", max_deliveries=2)[0] == "stale"
    assert wakes.step(job_id, new, "claim", max_deliveries=2) == ("ok", "")
    assert wakes.step(job_id, new, "restore", "sb-new") == ("ok", "")
    # Its worker died; the message comes back: the dead run's sandbox is named to be killed.
    assert wakes.step(job_id, new, "claim", max_deliveries=2) == ("ok", "sb-new")
    assert wakes.step(job_id, new, "claim", max_deliveries=2)[0] == "exhausted"
    # A visitor who saw an older sandbox than the job's now starts nothing.
    assert _begin(wakes, capacity, job_id, project, seen="sb-other").outcome == "moved"


def test_the_reaper_spares_the_sandbox_a_wake_works_on_or_just_woke_on(parts, store, r):
    clock, capacity, wakes, project, job_id = parts
    assert not superseded(store, job_id, "sb-old")  # the preview's own
    assert superseded(store, job_id, "sb-twin")
    view = _begin(wakes, capacity, job_id, project)
    wakes.step(job_id, view.wake_id, "claim", max_deliveries=3)
    assert not superseded(store, job_id, "sb-new")  # created, not yet named on the mark
    wakes.step(job_id, view.wake_id, "restore", "sb-new")
    assert not superseded(store, job_id, "sb-new") and superseded(store, job_id, "sb-twin")
    assert wakes.done(job_id, "user-1", project, view.wake_id, "sb-new", clock.now() + 60,
                      {}, "kiln:sandboxes")[0] == "ok"
    # A sweep that read the job before the wake finished reads it again before a kill.
    assert not superseded(store, job_id, "sb-new") and superseded(store, job_id, "sb-old")
