"""The sandbox registry against real Redis: what any process (the reaper included) reads."""

import time

from actors.sandbox.registry import SandboxRecord, SandboxRegistry
from domain.keys import Keys


def _rec(sandbox_id: str, job_id: str, created_at: float) -> SandboxRecord:
    return SandboxRecord(sandbox_id=sandbox_id, job_id=job_id, runtime="local", host="h1",
                         created_at=created_at, expires_at=created_at + 60)


def test_register_get_all_for_job_remove(r):
    reg = SandboxRegistry(r, prefix="kiln")
    now = time.time()
    reg.register(_rec("s2", "job-b", now + 1))
    reg.register(_rec("s1", "job-a", now))
    reg.register(_rec("s3", "job-a", now + 2))
    assert reg.get("s1") == _rec("s1", "job-a", now)
    assert reg.get("nope") is None
    assert [x.sandbox_id for x in reg.all()] == ["s1", "s2", "s3"]  # oldest first
    assert [x.sandbox_id for x in reg.for_job("job-a")] == ["s1", "s3"]
    assert reg.remove("s1") is True
    assert reg.remove("s1") is False
    assert [x.sandbox_id for x in reg.all()] == ["s2", "s3"]


def test_stored_under_the_documented_key_as_json(r):
    SandboxRegistry(r, prefix="px").register(_rec("s1", "job-a", 100.0))
    raw = r.hget(Keys("px").sandboxes(), "s1")
    assert raw and '"job_id": "job-a"' in raw and '"host": "h1"' in raw
    assert SandboxRegistry(r, prefix="kiln").all() == []  # prefixes do not mix


def test_extend_moves_expiry_and_corrupt_entries_are_skipped(r):
    reg = SandboxRegistry(r, prefix="kiln")
    reg.register(_rec("s1", "job-a", 100.0))
    assert reg.extend("s1", 5000.0) is True
    assert reg.get("s1").expires_at == 5000.0
    assert reg.extend("missing", 1.0) is False
    r.hset(Keys("kiln").sandboxes(), "bad", "{not json")
    assert [x.sandbox_id for x in reg.all()] == ["s1"]
