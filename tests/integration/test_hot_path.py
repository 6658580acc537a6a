"""The stage hot path's round-trip savings keep their contracts: files come with the entry,
stage-end metrics reach Redis off the worker thread."""

from actors.telemetry_writer import TelemetryWriter
from domain.status import Status
from domain.telemetry import Telemetry


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


def test_queued_metrics_land_in_one_pipeline(r):
    writer = TelemetryWriter()
    for _ in range(3):
        writer.put(r, "kiln", lambda t: t.stage_finished("deps", "done", 0.2))
    writer.put(r, "kiln", lambda t: t.count("stage_cancels", "code"))
    assert writer.flush(5)
    snap = Telemetry(r, "kiln").snapshot()
    assert snap.counters["stage_runs"][("deps", "done")] == 3
    assert snap.counters["stage_cancels"][("code",)] == 1
    assert dict(snap.histograms["deps"][0])["0.25"] == 3
