"""bin/migrate (bin/support/migrate.py) on a database an older Kiln wrote: Dramatiq's keys move
to the broker's database, merged with what a newer process already put there; a job's and a
project's keys get their hash-tagged names; a second run changes nothing. (An upgrade with
builds in flight, finished by real workers: tests/ops/test_upgrade.py.)"""

from __future__ import annotations

import dataclasses

import pytest

from bin.support import migrate as migrate_tool
from bin.support.migrate import migrate, move_broker_keys
from domain.keys import Keys
from domain.redis_client import database
from domain.settings import ConfigError, Settings
from domain.status import Status
from domain.store import JobStore
from tests.support.store_reads import history


@pytest.fixture
def settings(redis_url) -> Settings:
    return dataclasses.replace(Settings.from_env(), redis_url=redis_url)


def _old_broker_keys(r) -> None:
    """Dramatiq's layout as an older Kiln left it in Kiln's own database: two queued messages,
    one fetched by a worker that has since died, its heartbeat, a dead-lettered message."""
    r.rpush("dramatiq:kiln", "m1", "m2")
    r.hset("dramatiq:kiln.msgs", mapping={"m1": "one", "m2": "two", "m0": "zero"})
    r.sadd("dramatiq:__acks__.w-old.kiln", "m0")
    r.zadd("dramatiq:__heartbeats__", {"w-old": 1000})
    r.zadd("dramatiq:kiln.XQ", {"mx": 5})
    r.hset("dramatiq:kiln.XQ.msgs", "mx", "dead")


def test_dramatiqs_keys_move_to_the_broker_database(settings, r, broker_r):
    _old_broker_keys(r)
    r.set("kiln:job:abc", "stays")  # not Dramatiq's (nor a job id: not renamed either)
    done = migrate(settings)
    assert (done.moved, done.renamed, done.taken) == (6, 0, [])
    assert done.lines() == ["moved 6 Dramatiq key(s) to the broker's database"]
    assert r.keys("dramatiq:*") == [] and r.get("kiln:job:abc") == "stays"
    assert broker_r.lrange("dramatiq:kiln", 0, -1) == ["m1", "m2"]
    assert broker_r.hgetall("dramatiq:kiln.msgs") == {"m1": "one", "m2": "two", "m0": "zero"}
    assert broker_r.smembers("dramatiq:__acks__.w-old.kiln") == {"m0"}
    assert broker_r.zscore("dramatiq:__heartbeats__", "w-old") == 1000
    assert broker_r.hget("dramatiq:kiln.XQ.msgs", "mx") == "dead"
    assert migrate(settings).lines() == []  # a second run finds nothing left to move


def test_keys_a_newer_process_made_first_are_merged_not_overwritten(settings, r, broker_r):
    _old_broker_keys(r)
    broker_r.rpush("dramatiq:kiln", "n1")
    broker_r.hset("dramatiq:kiln.msgs", mapping={"n1": "new", "m1": "newer copy"})
    broker_r.zadd("dramatiq:__heartbeats__", {"w-new": 2000})
    migrate(settings)
    assert r.keys("dramatiq:*") == []
    assert broker_r.lrange("dramatiq:kiln", 0, -1) == ["m1", "m2", "n1"]  # the older first
    assert broker_r.hgetall("dramatiq:kiln.msgs") == {"n1": "new", "m1": "newer copy",
                                                      "m2": "two", "m0": "zero"}
    assert broker_r.zrange("dramatiq:__heartbeats__", 0, -1) == ["w-old", "w-new"]


def test_moving_into_kilns_own_database_is_refused(r, redis_url):
    with pytest.raises(ConfigError):
        move_broker_keys(r, database(redis_url), database(redis_url))


JOB, PROJECT = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"


def _old_job_and_project(r) -> None:
    """A READY job and its project under the names an older Kiln used (no hash tags)."""
    r.hset(f"kiln:job:{JOB}", mapping={
        "job_id": JOB, "project_id": PROJECT, "user_id": "user-1", "tier": "partner",
        "goal": "notes", "status": "ready", "attempt": "1", "iteration": "0",
        "created_at": "1.0", "updated_at": "2.0", "stage_started_at": "2.0",
        "build_version": "build_v0_1", "debug_id": "dbg_1"})
    r.xadd(f"kiln:job:{JOB}:events", {"type": "status", "status": "ready", "from": "checks"})
    r.hset(f"kiln:job:{JOB}:files", "app.py", "print('hi')")
    r.set(f"kiln:job:{JOB}:feedback", "old failure", ex=3600)
    r.set(f"kiln:job:{JOB}:feedback:fp", "abc", ex=3600)
    r.hset(f"kiln:project:{PROJECT}", mapping={"project_id": PROJECT, "name": "Notes",
                                                "user_id": "user-1", "created_at": "1.0"})
    r.zadd(f"kiln:project:{PROJECT}:jobs", {JOB: 1.0})
    r.set(f"kiln:project:{PROJECT}:build_seq", 1)
    r.zadd(f"kiln:project:{PROJECT}:versions", {JOB: 1})
    r.set(f"kiln:project:{PROJECT}:pending_gate", "g1")
    r.set(f"kiln:project:{PROJECT}:gate:build_v0_1", "g1")
    r.zadd(f"kiln:project:{PROJECT}:gates", {"g1": 2.0})
    r.zadd("kiln:user:user-1:projects", {PROJECT: 1.0})  # a user's keys keep their names


def test_job_and_project_keys_get_their_hash_tagged_names(settings, r):
    _old_job_and_project(r)
    store, keys = JobStore(r), Keys()
    assert store.get_job(JOB) is None  # today's code cannot find the old names
    done = migrate(settings)
    assert (done.renamed, done.taken) == (12, [])
    job = store.get_job(JOB)
    assert job.status == Status.READY and job.build_version == "build_v0_1"
    assert store.files(JOB) == {"app.py": "print('hi')"}
    assert [e["status"] for _, e in history(store, JOB)] == ["ready"]
    assert 0 < r.ttl(keys.feedback(JOB)) <= 3600  # the expiry came along
    assert r.get(keys.feedback_fingerprint(JOB)) == "abc"
    assert store.project_job_ids(PROJECT) == [JOB]
    assert store.predicted_version(PROJECT) == "build_v0_2"
    assert r.get(keys.pending_gate(PROJECT)) == "g1"
    assert r.get(keys.gate_by_version(PROJECT, "build_v0_1")) == "g1"
    assert r.zrange(keys.project_versions(PROJECT), 0, -1) == [JOB]
    assert [p["project_id"] for p in store.list_projects("user-1")] == [PROJECT]
    assert not r.keys(f"kiln:job:{JOB}*") and not r.keys(f"kiln:project:{PROJECT}*")
    assert migrate(settings).lines() == []  # run twice: nothing left


def test_an_old_key_whose_new_name_is_taken_is_left_and_reported(settings, r, capsys,
                                                                 monkeypatch):
    _old_job_and_project(r)
    r.hset(Keys().job(JOB), "status", "queued")  # a newer process wrote the new name first
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    assert migrate_tool.main([]) == 1
    assert f"left kiln:job:{JOB}: its new name is taken" in capsys.readouterr().out
    assert r.hget(f"kiln:job:{JOB}", "status") == "ready"  # nothing overwritten
    assert r.hget(Keys().job(JOB), "status") == "queued"
