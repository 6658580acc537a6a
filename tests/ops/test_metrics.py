"""Worker metrics: real builds on real workers move the numbers the web app shows at /metrics."""

from __future__ import annotations

import dataclasses

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from actors.generators.template import TemplateGenerator
from actors.telemetry_writer import TelemetryWriter
from domain.errors import TransientError
from domain.failures import CANCELLED_MESSAGE
from domain.messages import send_stage
from domain.settings import Settings
from domain.status import Status
from domain.telemetry import BUCKETS, Telemetry, stage_increments
from tests.support.waiting import wait_for
from web.app import create_app


@pytest.fixture
def scrape(redis_url):
    app = create_app(dataclasses.replace(Settings.from_env(), redis_url=redis_url,
                                         jwt_secret="kiln-ops-metrics-secret-0123456789abcdef"))
    with TestClient(app) as client:
        def read() -> dict[tuple[str, tuple], float]:
            response = client.get("/metrics")
            assert response.status_code == 200
            return {(s.name, tuple(sorted(s.labels.items()))): s.value
                    for family in text_string_to_metric_families(response.text)
                    for s in family.samples}
        yield read


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


class FlakyOnce(TemplateGenerator):
    """The model API is busy on the first call: a transient error the stage retries."""

    name = "flaky-once"
    failed = False

    def generate(self, goal, workspace, feedback):
        if not self.failed:
            self.failed = True
            raise TransientError("model API busy (429)")
        return super().generate(goal, workspace, feedback)


def test_a_build_with_a_retry_moves_the_worker_metrics(pipeline, scrape):
    before = scrape()
    assert value(before, "kiln_stage_run_seconds_count", stage="deps") == 0
    pipeline.use(generator=FlakyOnce())
    job = pipeline.wait_terminal(pipeline.start("a todo app"))
    assert job.status == Status.READY, job.error_detail
    # Workers sum their metrics and write them every second.
    after = wait_for(lambda: (m := scrape()) and value(m, "kiln_stage_runs_total",
                                                       stage="checks", outcome="done") and m,
                     10, message="the workers' metrics to be written")
    for stage in ("starting", "scaffold", "deps", "checks"):
        assert value(after, "kiln_stage_runs_total", stage=stage, outcome="done") == 1
        assert value(after, "kiln_stage_run_seconds_count", stage=stage) == 1
    assert value(after, "kiln_stage_runs_total", stage="code", outcome="retry") == 1
    assert value(after, "kiln_stage_runs_total", stage="code", outcome="done") == 1
    assert value(after, "kiln_stage_retries_total", stage="code") == 1
    # The retry came back as the same message: a redelivery that resumed the stage.
    assert value(after, "kiln_stage_redeliveries_total", stage="code") == 1
    assert value(after, "kiln_stage_run_seconds_sum", stage="checks") > 0
    assert value(after, "kiln_stage_run_seconds_bucket", stage="checks", le="+Inf") == 1

    # The preview expires: the workers' reaper (their housekeeping, every 2 s) kills its
    # sandbox and counts it, once. (Calling the reaper here as well raced theirs.)
    store = pipeline.svc.store
    assert store.update(job.job_id, Status.READY, sandbox_expires_at=store.clock.now() - 1)
    reaped = wait_for(lambda: (m := scrape()) and value(
        m, "kiln_sandboxes_reaped_total", reason="preview_expired") and m, 15,
        interval=0.2, message="the reaper to kill the expired preview's sandbox")
    assert value(reaped, "kiln_sandboxes_reaped_total", reason="preview_expired") == 1
    assert pipeline.svc.registry.for_job(job.job_id) == []


def test_a_cancelled_job_counts_a_cancel_at_the_stage_that_saw_it(pipeline, scrape):
    svc = pipeline.svc
    project_id = svc.store.create_project("user-1", "Cancel")["project_id"]
    decision = svc.capacity.start(project_id, "user-1", "partner", "a notes app")
    assert svc.store.cancel(decision.job.job_id, CANCELLED_MESSAGE).ok
    send_stage(svc.broker, Status.STARTING, decision.job.job_id, 1)  # the message still arrives
    wait_for(lambda: value(scrape(), "kiln_stage_cancels_total", stage="starting") == 1, 10,
             message="the cancel to be counted")


def test_histogram_buckets_are_cumulative_at_scrape_time(r):
    writer = TelemetryWriter(interval_s=3600)  # as a stage's end records it; flush() writes
    for seconds in (0.05, 0.3, 0.3, 45.0, 5000.0):
        writer.add(r, "kiln", stage_increments("deps", "done", seconds))
    assert writer.flush(5)
    buckets, total = Telemetry(r, "kiln").snapshot().histograms["deps"]
    by_le = dict(buckets)
    assert by_le["0.1"] == 1 and by_le["0.5"] == 3 and by_le["60.0"] == 4
    assert by_le["+Inf"] == 5 and len(buckets) == len(BUCKETS) + 1
    assert total == pytest.approx(5045.65)
