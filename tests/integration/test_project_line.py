"""The project line on a real Redis: the READY transition indexes each version, decisions come
from the project's gates, and an index missing versions made before it existed is repaired."""

from __future__ import annotations

from domain.gate_store import GateStore
from domain.line import ProjectLine
from domain.status import Status


def ready(store, project_id: str, goal: str, **fields) -> str:
    job_id = store.create_job(project_id, "user-1", "partner", goal, status=Status.CHECKS,
                              **fields).job_id
    assert store.transition(job_id, Status.READY).ok
    return job_id


def decide(gates: GateStore, project_id: str, job_id: str, version: str, decision: str) -> None:
    gate = gates.create(project_id, "user-1", job_id, version)
    assert gates.resolve(gate.gate_id, decision) == "ok"


def test_versions_decisions_base_and_foundation(store, r, project):
    gates = GateStore(r)
    line = ProjectLine(store, gates)
    pid = project["project_id"]
    assert line.read(pid).versions == [] and line.read(pid).base is None

    first = ready(store, pid, "a recipe box")
    assert r.zscore(store.keys.project_versions(pid), first) == 1.0  # indexed at READY
    store.create_job(pid, "user-1", "partner", "still building", status=Status.CODE)
    failed = store.create_job(pid, "user-1", "partner", "broke", status=Status.CHECKS).job_id
    assert store.transition(failed, Status.FAILED).ok
    decide(gates, pid, first, "build_v0_1", "solidify")
    second = ready(store, pid, "add tags", based_on="build_v0_1", based_on_job=first)

    read = line.read(pid)
    assert [(v.build_version, v.job_id, v.goal, v.based_on, v.decision) for v in read.versions] \
        == [("build_v0_1", first, "a recipe box", None, "solidify"),
            ("build_v0_2", second, "add tags", "build_v0_1", None)]
    assert read.base.job_id == second and read.foundation.job_id == first
    assert read.versions[1].ready_at >= read.versions[0].decided_at

    decide(gates, pid, second, "build_v0_2", "abandon")
    read = line.read(pid)
    assert (read.base, read.foundation) == (None, None)
    assert read.versions[1].decision == "abandon"


def test_an_index_missing_older_versions_is_repaired(store, r, project):
    pid = project["project_id"]
    jobs = [ready(store, pid, f"goal {n}") for n in range(3)]
    r.delete(store.keys.project_versions(pid))  # as before the index existed
    read = ProjectLine(store, GateStore(r)).read(pid)
    assert [v.job_id for v in read.versions] == jobs and read.base.job_id == jobs[-1]
    assert r.zrange(store.keys.project_versions(pid), 0, -1, withscores=True) == \
        [(jobs[0], 1.0), (jobs[1], 2.0), (jobs[2], 3.0)]
