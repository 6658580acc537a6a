"""enter_stage (the actors' one-round-trip entry), cancel and reopen against real Redis."""

from domain.status import Status
from tests.support.store_reads import cancel_flag, history


def _job(store, project, status=Status.QUEUED):
    return store.create_job(project["project_id"], "user-1", "bootstrapper", "notes", status=status)


def test_enter_walks_the_pipeline_and_returns_the_job(store, project):
    job = _job(store, project)
    for stage in (Status.STARTING, Status.SCAFFOLD, Status.CODE):
        entry = store.enter_stage(job.job_id, stage, attempt=1, iteration=0, max_deliveries=3,
                                  message_id="m-" + stage)
        assert entry.outcome == "entered" and entry.job.status == stage
        assert entry.job.goal == "notes" and entry.job.deliveries == 1


def test_duplicate_message_is_dropped(store, project):
    job = _job(store, project, Status.CODE)
    assert store.enter_stage(job.job_id, Status.DEPS, 1, 0, 3, 'm1').outcome == "entered"
    # An old scaffold/code message arriving late: the job is past it.
    assert store.enter_stage(job.job_id, Status.CODE, 1, 0, 3, 'm1').outcome == "duplicate"
    assert store.enter_stage(job.job_id, Status.SCAFFOLD, 1, 0, 3, 'm1').outcome == "duplicate"
    # A stale attempt's message.
    assert store.enter_stage(job.job_id, Status.CHECKS, 2, 0, 3, 'm1').outcome == "duplicate"
    assert len(history(store, job.job_id)) == 2


def test_redelivery_resumes_until_the_budget_is_spent(store, project):
    job = _job(store, project, Status.CODE)
    assert store.enter_stage(job.job_id, Status.DEPS, 1, 0, 3, 'm1').outcome == "entered"
    assert store.enter_stage(job.job_id, Status.DEPS, 1, 0, 3, 'm1').outcome == "resumed"
    assert store.enter_stage(job.job_id, Status.DEPS, 1, 0, 3, 'm1').outcome == "resumed"
    assert store.enter_stage(job.job_id, Status.DEPS, 1, 0, 3, 'm1').outcome == "exhausted"
    assert store.get_job(job.job_id).redeliveries == 3


def test_a_second_message_for_a_held_stage_is_a_duplicate(store, project):
    job = _job(store, project, Status.CODE)
    assert store.enter_stage(job.job_id, Status.DEPS, 1, 0, 3, "first").outcome == "entered"
    assert store.enter_stage(job.job_id, Status.DEPS, 1, 0, 3, "second").outcome == "duplicate"
    assert store.enter_stage(job.job_id, Status.DEPS, 1, 0, 3, "first").outcome == "resumed"


def test_fix_loop_needs_the_next_iteration(store, project):
    job = _job(store, project, Status.CHECKS)
    assert store.enter_stage(job.job_id, Status.SCAFFOLD, 1, 0, 3, 'm1').outcome == "duplicate"
    entry = store.enter_stage(job.job_id, Status.SCAFFOLD, 1, 1, 3, 'm1')
    assert entry.outcome == "entered" and entry.job.iteration == 1


def test_cancel_flag_wins_over_entry(store, project):
    job = _job(store, project, Status.SCAFFOLD)
    assert store.cancel(job.job_id, "Cancelled by user").ok
    assert cancel_flag(store, job.job_id)
    after = store.get_job(job.job_id)
    assert after.status == Status.FAILED and after.cancelled and after.failed_stage == "scaffold"
    assert store.enter_stage(job.job_id, Status.CODE, 1, 0, 3, 'm1').outcome == "cancelled"
    assert store.cancel(job.job_id, "again").reason == "illegal"


def test_reopen_opens_one_new_attempt(store, project):
    job = _job(store, project, Status.DEPS)
    store.transition(job.job_id, Status.FAILED, error_message="boom")
    assert store.reopen(job.job_id, 1, Status.DEPS) == ("ok", 2)
    assert store.reopen(job.job_id, 1, Status.DEPS)[0] == "not_failed"
    reopened = store.get_job(job.job_id)
    assert reopened.status == Status.QUEUED and reopened.attempt == 2
    assert reopened.resume_at == "deps" and reopened.error_message is None
    statuses = [e["status"] for _, e in history(store, job.job_id)]
    assert statuses == ["deps", "failed", "queued"]


def test_reopen_skips_cancelled_unless_asked(store, project):
    job = _job(store, project, Status.CODE)
    store.cancel(job.job_id, "Cancelled by user")
    assert store.reopen(job.job_id, 1, Status.CODE)[0] == "cancelled"
    assert store.reopen(job.job_id, 1, Status.CODE, include_cancelled=True) == ("ok", 2)
    assert not cancel_flag(store, job.job_id)


def test_update_only_while_at_stage_and_not_cancelled(store, project):
    job = _job(store, project, Status.CODE)
    assert store.update(job.job_id, Status.CODE, files={"app.py": "x"}, files_written=1)
    assert store.files(job.job_id) == {"app.py": "x"}
    assert store.get_job(job.job_id).files_written == 1
    assert not store.update(job.job_id, Status.DEPS, files_written=5)
    store.cancel(job.job_id, "Cancelled by user")
    assert not store.update(job.job_id, Status.FAILED, sandbox_id="sb")
    assert store.get_job(job.job_id).sandbox_id is None
