"""Job.from_redis (domain/job.py): a job hash's strings, typed. No Redis needed."""

from __future__ import annotations

import pytest

from domain.job import Job
from domain.status import Status
from domain.store import JobStore, _flat, _pairs

BASE = {"job_id": "j1", "project_id": "p1", "user_id": "u1", "tier": "bootstrapper",
        "goal": "notes", "status": "code", "debug_id": "dbg_1"}


def test_fields_get_their_types():
    job = Job.from_redis({
        **BASE, "attempt": "3", "iteration": "2", "deliveries": "4", "redeliveries": "5",
        "files_written": "7", "created_at": "100.5", "updated_at": "101", "stage_started_at":
        "102.25", "scheduled_for": "103", "sandbox_expires_at": "104.5", "cancelled": "1",
        "sandbox_id": "sb-1", "preview_url": "https://x", "build_version": "v3",
        "error_message": "m", "error_detail": "d", "error_code": "c", "failed_stage": "deps",
        "resume_at": "scaffold"})
    assert job.status is Status.CODE
    for name, value in {"attempt": 3, "iteration": 2, "deliveries": 4, "redeliveries": 5,
                        "files_written": 7}.items():
        assert type(getattr(job, name)) is int and getattr(job, name) == value, name
    for name, value in {"created_at": 100.5, "updated_at": 101.0, "stage_started_at": 102.25,
                        "scheduled_for": 103.0, "sandbox_expires_at": 104.5}.items():
        assert type(getattr(job, name)) is float and getattr(job, name) == value, name
    assert job.cancelled is True
    assert (job.sandbox_id, job.preview_url, job.build_version, job.failed_stage,
            job.resume_at, job.error_code) == ("sb-1", "https://x", "v3", "deps", "scaffold", "c")
    assert job.timestamps == {}


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("0", False)])
def test_cancelled_is_true_only_for_1(raw, expected):
    assert Job.from_redis({**BASE, "cancelled": raw}).cancelled is expected


def test_every_status_is_parsed_and_has_its_timestamp():
    for status in Status:
        raw = {**BASE, "status": status.value, f"{status.value}_at": "12.5"}
        job = Job.from_redis(raw)
        assert job.status is status
        assert job.timestamps == {status.value: 12.5}
        assert type(job.timestamps[status.value]) is float


def test_per_status_timestamps_are_collected_and_other_at_fields_are_not():
    job = Job.from_redis({**BASE, "queued_at": "1", "starting_at": "2.5", "code_at": "4",
                          "scheduled_at": "0.5", "created_at": "1", "updated_at": "4",
                          "admitted_at": "1.5", "stage_started_at": "4"})
    assert job.timestamps == {"scheduled": 0.5, "queued": 1.0, "starting": 2.5, "code": 4.0}
    assert job.scheduled_for is None  # scheduled_at is the status's, not the schedule


def test_unknown_fields_are_ignored():
    job = Job.from_redis({**BASE, "holder": "msg-1", "queue_seq": "9", "admitted_at": "1.5",
                          "something_new": "x", "timestamps": "{}", "done_at": "3"})
    assert job == Job.from_redis(BASE)
    assert job.timestamps == {}


def test_empty_strings_are_missing_values():
    job = Job.from_redis({**BASE, "attempt": "", "iteration": "", "deliveries": "",
                          "files_written": "", "created_at": "", "stage_started_at": "",
                          "scheduled_for": "", "sandbox_id": "", "error_message": "",
                          "cancelled": "", "resume_at": ""})
    assert job == Job.from_redis(BASE)
    assert (job.attempt, job.iteration, job.deliveries, job.created_at) == (1, 0, 0, 0.0)
    assert job.files_written is None and job.stage_started_at is None
    assert job.scheduled_for is None and job.sandbox_id is None and job.cancelled is False


def test_an_empty_status_timestamp_is_missing():
    assert Job.from_redis({**BASE, "code_at": ""}).timestamps == {}


def test_a_new_record_round_trips_as_the_store_writes_it():
    record = JobStore.new_record("p1", "u1", "bootstrapper", "notes", 1700000000.25,
                                 status="queued", queued_at=repr(1700000000.25),
                                 files_written=None, holder="m1")
    job = Job.from_redis(_pairs(_flat(record)))
    assert job.status is Status.QUEUED and job.attempt == 1 and job.iteration == 0
    assert job.cancelled is False and job.files_written is None
    assert job.created_at == job.updated_at == job.stage_started_at == 1700000000.25
    assert job.timestamps == {"queued": 1700000000.25}
    assert job.debug_id.startswith("dbg_") and job.job_id == record["job_id"]
