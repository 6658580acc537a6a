"""checks -> scaffold fix loop: feedback goes back to the generator while the budget lasts."""

from __future__ import annotations

from domain.status import Status
from tests.support.generators import AlwaysBroken, FirstAnswerBroken
from tests.support.store_reads import history


def test_first_answer_fails_its_test_then_the_fix_reaches_ready(pipeline):
    generator = FirstAnswerBroken()
    pipeline.use(generator=generator)
    job = pipeline.wait_terminal(pipeline.start("a todo app"))
    assert job.status == Status.READY, job.error_detail
    assert job.iteration == 1  # the second iteration
    assert generator.calls[0] is None and "feature not implemented yet" in generator.calls[1]
    statuses = [e["status"] for _, e in history(pipeline.svc.store, job.job_id)]
    assert statuses == ["queued", "starting", "scaffold", "code", "deps", "checks",
                        "scaffold", "code", "deps", "checks", "ready"]


def test_always_failing_checks_end_failed_after_the_tier_budget(pipeline):
    generator = AlwaysBroken()
    pipeline.use(generator=generator)
    job = pipeline.wait_terminal(pipeline.start("a todo app", tier="bootstrapper"))
    assert job.status == Status.FAILED and job.failed_stage == "checks"
    assert job.error_code == "checks_failed"
    assert job.error_message.startswith("Your app's checks kept failing")
    assert generator.count == 3 and job.iteration == 2  # first answer + 2 fixes (bootstrapper)


def test_the_same_failure_twice_stops_the_loop_early(pipeline):
    generator = AlwaysBroken(same_failure=True)
    pipeline.use(generator=generator)
    job = pipeline.wait_terminal(pipeline.start("a todo app", tier="cto_scale"))
    assert job.status == Status.FAILED and job.error_code == "checks_failed"
    assert generator.count == 2  # cto_scale allows 5 fixes; the repeat stopped it after one
