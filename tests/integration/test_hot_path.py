"""The stage hot path's round-trip savings keep their contracts: files come with the entry,
stage-end metrics reach Redis off the worker thread, summed."""

import pytest

from actors.telemetry_writer import TelemetryWriter
from bin.support.embedded_redis import EmbeddedRedis
from domain.redis_client import connect
from domain.status import Status
from domain.telemetry import Telemetry, counter, stage_increments


def test_enter_returns_the_files_only_when_asked(store, project):
    job = store.create_job(project["project_id"], "user-1", "bootstrapper", "notes é",
                           status=Status.CODE)
    plain = store.enter_stage(job.job_id, Status.DEPS, 1, 0, 3, "m1")
    assert plain.outcome == "entered" and plain.files is None and plain.job.goal == "notes é"
    job = store.create_job(project["project_id"], "user-1", "bootstrapper", "x",
                           status=Status.CODE)
    empty = store.enter_stage(job.job_id, Status.DEPS, 1, 0, 3, "m1", with_files=True)
    assert empty.files == {}
    assert store.update(job.job_id, Status.DEPS, files={"kiln.json": "{}", "a/ü.py": "ü"})
    again = store.enter_stage(job.job_id, Status.DEPS, 1, 0, 3, "m1", with_files=True)
    assert again.outcome == "resumed" and again.files == {"kiln.json": "{}", "a/ü.py": "ü"}


def test_stage_metrics_are_summed_in_memory_and_written_together(r):
    writer = TelemetryWriter(interval_s=3600)  # only flush() writes: nothing lands before it
    for _ in range(3):
        writer.add(r, "kiln", stage_increments("deps", "done", 0.2))
    writer.add(r, "kiln", counter("stage_cancels", "code"))
    assert not r.exists("kiln:metrics")
    assert writer.flush(5)
    snap = Telemetry(r, "kiln").snapshot()
    assert snap.counters["stage_runs"][("deps", "done")] == 3
    assert snap.counters["stage_cancels"][("code",)] == 1
    assert dict(snap.histograms["deps"][0])["0.25"] == 3
    assert snap.histograms["deps"][1] == pytest.approx(0.6)
    writer.add(r, "kiln", counter("stage_cancels", "code"))  # the next flush adds, not sets
    assert writer.flush(5)
    assert Telemetry(r, "kiln").snapshot().counters["stage_cancels"][("code",)] == 2


def test_sums_a_failed_write_kept_are_written_next_time(tmp_path):
    writer = TelemetryWriter(interval_s=3600)
    with EmbeddedRedis(tmp_path, appendonly=False) as server:  # a Redis of its own to stop
        client = connect(server.url)
        server.stop()
        writer.add(client, "kiln", counter("stage_cancels", "deps"))
        assert writer.flush(5)  # the write failed while Redis was down...
        server.start()  # ...same socket, as after a restart
        writer.add(client, "kiln", counter("stage_cancels", "code"))
        assert writer.flush(5)
        counters = Telemetry(client, "kiln").snapshot().counters["stage_cancels"]
        assert counters == {("deps",): 1, ("code",): 1}  # ...and was kept, not lost
        client.close()
