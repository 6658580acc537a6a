"""bin/replay against real Redis (and, for the full replay, real workers and sandboxes)."""

from __future__ import annotations

import threading

import pytest
import redis

from bin.support import replay
from domain.capacity import Capacity
from domain.failures import CANCELLED_MESSAGE
from domain.status import Status
from tests.support.index import InstallsFromIndex, PackageIndex
from tests.support.store_reads import cancel_flag, history
from tests.support.waiting import join_all


def _failed(store, stage: Status = Status.DEPS, user: str = "user-1", project: str | None = None,
            cancelled: bool = False) -> str:
    project = project or store.create_project(user, "Ops")["project_id"]
    job = store.create_job(project, user, "partner", "a todo app", status=stage)
    if cancelled:
        assert store.cancel(job.job_id, CANCELLED_MESSAGE).ok
    else:
        assert store.transition(job.job_id, Status.FAILED, error_code="stage_error",
                                error_message=f"{stage.value} broke").ok
    return job.job_id


def _redis_state(redis_url: str) -> dict[str, tuple[str, bytes | None, int]]:
    raw = redis.Redis.from_url(redis_url)  # bytes: DUMP is binary
    try:
        return {key.decode(): (raw.type(key).decode(), raw.dump(key), raw.pttl(key) > 0)
                for key in sorted(raw.keys("*"))}
    finally:
        raw.close()


def test_a_job_failed_at_deps_replays_from_deps_to_ready(pipeline):
    from actors.sandbox.local import LocalRuntime

    index = PackageIndex()  # down: the install step fails
    try:
        generator = InstallsFromIndex(index.url)
        # The index listens on the host's loopback, which a bubblewrap sandbox cannot reach
        # (docs/sandbox.md): this replay test runs its sandboxes as plain process sessions.
        runtime = pipeline.svc.runtime
        pipeline.use(generator=generator,
                     runtime=LocalRuntime(runtime.root, runtime.registry, use_bwrap=False))
        job_id = pipeline.start("a todo app")
        failed = pipeline.wait_terminal(job_id)
        assert failed.status == Status.FAILED and failed.failed_stage == "deps", failed.error_detail
        assert index.hits == 1 and generator.calls == 1

        index.up = True  # the index is back: the operator replays the job
        assert replay.main([job_id]) == 0
        job = wait_attempt_terminal(pipeline, job_id, 2)
    finally:
        index.close()
    assert job.status == Status.READY, job.error_detail
    assert generator.calls == 1  # the stored code was reused, not generated again
    assert index.hits == 2  # deps ran again in attempt 2
    assert job.attempt == 2  # the status response's `attempt`
    events = [e for _, e in history(pipeline.svc.store, job_id)]
    reopened = next(i for i, e in enumerate(events) if e.get("from") == "failed")
    assert events[reopened]["attempt"] == "2" and events[reopened]["resume_at"] == "deps"
    after = [e["status"] for e in events[reopened:]]
    assert after == ["queued", "starting", "scaffold", "code", "deps", "checks", "ready"]


def wait_attempt_terminal(pipeline, job_id: str, attempt: int):
    from tests.support.waiting import wait_for

    store = pipeline.svc.store
    return wait_for(lambda: (j := store.get_job(job_id)) and j.attempt == attempt
                    and j.terminal and j, 60, message=f"attempt {attempt} to finish")


def test_dry_run_changes_nothing_and_prints_the_table(store, redis_url, capsys):
    job_id = _failed(store, Status.DEPS)
    before = _redis_state(redis_url)
    assert replay.main([job_id, "--dry-run"]) == 0
    assert replay.main(["--all-failed", "--dry-run"]) == 0
    assert _redis_state(redis_url) == before
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header[:2] == ["JOB", "USER"] and "ATTEMPT" in header and "ERROR" in header
    row = next(line for line in out.splitlines() if line.startswith(job_id))
    assert "user-1" in row and "deps broke" in row and " 2 " in row


def test_concurrent_replays_of_one_job_open_exactly_one_attempt(store):
    job_id = _failed(store, Status.CODE)
    codes: list[int] = []
    barrier = threading.Barrier(6, timeout=30)

    def operator() -> None:
        barrier.wait()
        codes.append(replay.main([job_id]))

    threads = [threading.Thread(target=operator) for _ in range(6)]
    for t in threads:
        t.start()
    join_all(threads, 60, "the replays")
    assert sorted(codes) == [0, 1, 1, 1, 1, 1]
    assert store.get_job(job_id).attempt == 2
    reopens = [e for _, e in history(store, job_id) if e.get("from") == "failed"]
    assert len(reopens) == 1


def test_two_operators_holding_the_same_failed_job_race_to_one_attempt(store):
    # Both read attempt 1 before either writes: the store's compare-and-set decides.
    job = store.get_job(_failed(store, Status.DEPS))
    capacity = Capacity(store)
    first, _ = replay.replay(store, capacity, [job], False, False)
    second, _ = replay.replay(store, capacity, [job], False, False)
    assert [o.ok for o in first + second] == [True, False]
    assert "already replayed" in second[0].reason


def test_cancelled_jobs_are_skipped_unless_included(store, capsys):
    cancelled = _failed(store, Status.CODE, cancelled=True)
    broken = _failed(store, Status.DEPS)
    assert replay.main(["--all-failed"]) == 0  # skipping by policy is not an error
    out = capsys.readouterr().out
    assert f"skip {cancelled}: cancelled" in out and f"queued {broken} as attempt 2" in out
    assert store.get_job(cancelled).status == Status.FAILED
    assert replay.main([cancelled]) == 1  # named explicitly: refused, with the reason
    assert "cancelled by its user" in capsys.readouterr().err
    assert replay.main([cancelled, "--include-cancelled"]) == 0
    job = store.get_job(cancelled)
    assert job.status == Status.QUEUED and job.attempt == 2 and not cancel_flag(store, cancelled)


def test_exit_status_is_nonzero_with_a_reason_per_job(store, capsys):
    ok = _failed(store, Status.DEPS)
    project = store.create_project("user-1", "Running")["project_id"]
    running = store.create_job(project, "user-1", "partner", "x", status=Status.CODE).job_id
    assert replay.main([ok, running, "no-such-job"]) == 1
    captured = capsys.readouterr()
    assert f"queued {ok} as attempt 2" in captured.out
    assert f"could not replay {running}: not failed" in captured.err
    assert "could not replay no-such-job: no such job" in captured.err
    assert replay.main([ok]) == 1  # replayed already: it is queued now, not failed
    assert "not failed" in capsys.readouterr().err


def test_filters_select_by_age_project_user_and_stage(store, capsys):
    p1 = store.create_project("alice", "A")["project_id"]
    old = _failed(store, Status.DEPS, user="alice", project=p1)
    store.redis.zadd(store.keys.failed(), {old: store.clock.now() - 3 * 3600})
    recent_deps = _failed(store, Status.DEPS, user="alice", project=p1)
    recent_code = _failed(store, Status.CODE, user="alice", project=p1)
    other_user = _failed(store, Status.DEPS, user="bob")

    def picked(*argv: str) -> set[str]:
        capsys.readouterr()
        assert replay.main([*argv, "--dry-run"]) == 0
        rows = capsys.readouterr().out.splitlines()[1:]
        return {row.split()[0] for row in rows}

    assert picked("--all-failed") == {old, recent_deps, recent_code, other_user}
    assert picked("--since", "2h") == {recent_deps, recent_code, other_user}
    assert picked("--since", "2h", "--user", "alice") == {recent_deps, recent_code}
    assert picked("--all-failed", "--project", p1, "--stage", "deps") == {old, recent_deps}
    assert picked("--since", "1h", "--stage", "code") == {recent_code}
    with pytest.raises(SystemExit):
        replay.main(["--since", "two hours"])


def test_replaying_again_queues_a_job_whose_replay_died_before_queueing_it(store):
    job_id = _failed(store, Status.DEPS)
    assert store.reopen(job_id, 1, Status.DEPS)[0] == "ok"  # ...and the operator's process died
    capacity = Capacity(store, global_cap=0)  # nothing admitted: the job must wait in the queue
    assert capacity.position(job_id) is None
    outcomes, _ = replay.replay(store, capacity, [store.get_job(job_id)], False, False)
    assert not outcomes[0].ok and capacity.position(job_id) == 1
    replay.replay(store, capacity, [store.get_job(job_id)], False, False)
    assert capacity.queue_depth() == 1 and store.get_job(job_id).attempt == 2
