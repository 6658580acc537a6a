"""The Redis layout under real workers: Dramatiq's maintenance runs KEYS over the broker's
database when it looks for dead workers, so after a build (the web side's send, every stage's
hand-off, READY) that database holds Dramatiq's keys only, and Kiln's holds none of them."""

from __future__ import annotations

from domain.status import Status


def test_kilns_keys_are_not_in_the_broker_database(pipeline, r, broker_r):
    job = pipeline.wait_terminal(pipeline.start())
    assert job.status == Status.READY, job.error_detail
    broker_keys = broker_r.keys("*")  # a handful: a test's own database
    assert broker_keys and all(key.startswith("dramatiq:") for key in broker_keys), broker_keys
    assert "dramatiq:__heartbeats__" in broker_keys  # the worker's, where maintenance looks
    assert r.keys("dramatiq:*") == []
    assert r.exists(pipeline.svc.store.keys.job(job.job_id))
