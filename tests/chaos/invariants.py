"""The invariants a chaos run must keep. Each check returns human-readable violations (empty
when the invariant holds), so one failing run reports everything that went wrong at once."""

from __future__ import annotations

from pathlib import Path

from actors.sandbox.procs import MARKER, is_alive
from actors.sandbox.registry import SandboxRegistry
from domain.job import Job
from domain.status import TERMINAL, TRANSITIONS, Status
from domain.store import JobStore
from domain.versions import build_version
from tests.support.procfs import read_all
from tests.support.store_reads import history


def stuck(jobs: list[Job], store: JobStore) -> list[str]:
    out = []
    for job in jobs:
        if not job.terminal:
            raw = store.redis.hgetall(store.keys.job(job.job_id))
            out.append(f"stuck: {job.job_id} at {job.status.value} (holder={raw.get('holder')}, "
                       f"deliveries={raw.get('deliveries')}, redrives={raw.get('redrives')})")
    return out


def event_paths(jobs: list[Job], store: JobStore) -> list[str]:
    """Every event stream is a legal walk of the state machine that ends at the job's status,
    with nothing after the terminal event."""
    out = []
    for job in jobs:
        events = [fields for _, fields in history(store, job.job_id)]
        statuses = [e for e in events if e.get("type") == "status"]
        if not statuses or statuses[0]["status"] not in (Status.QUEUED, Status.SCHEDULED):
            out.append(f"path: {job.job_id} does not start queued: {statuses[:1]}")
            continue
        path = [s["status"] for s in statuses]
        for prev, cur in zip(statuses, statuses[1:], strict=False):
            a, b = Status(prev["status"]), Status(cur["status"])
            if b not in TRANSITIONS[a] or cur.get("from") != a.value:
                out.append(f"path: {job.job_id} illegal {a.value} -> {b.value} in {path}")
        last = next((i for i, e in enumerate(events)
                     if e.get("type") == "status" and e["status"] in TERMINAL), None)
        if last is None or events[last]["status"] != job.status.value:
            out.append(f"path: {job.job_id} ends {path[-1]} but the job is {job.status.value}")
        elif last != len(events) - 1:
            out.append(f"path: {job.job_id} has events after {job.status.value}: "
                       f"{events[last + 1:]}")
    return out


def build_versions(projects: dict[str, list[str]], jobs: dict[str, Job],
                   store: JobStore) -> list[str]:
    """Each READY job has exactly one version, assigned once; a project's versions are
    build_v0_1..N with no gaps or repeats (only READY transitions take one)."""
    out = []
    for project_id, job_ids in projects.items():
        ready = [jobs[j] for j in job_ids if jobs[j].status == Status.READY]
        versions = sorted((j.build_version or "" for j in ready),
                          key=lambda v: int(v.rsplit("_", 1)[-1]) if v else -1)
        expected = [build_version(n) for n in range(1, len(ready) + 1)]
        if versions != expected:
            out.append(f"versions: project {project_id} has {versions}, expected {expected}")
        seq = int(store.redis.get(store.keys.build_seq(project_id)) or 0)
        if seq != len(ready):
            out.append(f"versions: project {project_id} counter {seq} != {len(ready)} ready")
        for job_id in job_ids:
            job = jobs[job_id]
            stamped = [f["build_version"] for _, f in history(store, job_id)
                       if "build_version" in f]
            if job.status == Status.READY and stamped != [job.build_version]:
                out.append(f"versions: {job_id} was stamped {stamped}")
            if job.status != Status.READY and (stamped or job.build_version):
                out.append(f"versions: {job_id} is {job.status.value} with {stamped}")
    return out


def slots(store: JobStore) -> list[str]:
    """Every capacity slot and watchdog entry is released once every job is terminal."""
    out = []
    r, k = store.redis, store.keys
    if held := r.zrange(k.live_global(), 0, -1):
        out.append(f"slots: {k.live_global()} still holds {held}")
    for pattern in (f"{store.prefix}:live:user:*", f"{store.prefix}:live:project:*"):
        for key in r.scan_iter(match=pattern):
            if members := r.smembers(key):
                out.append(f"slots: {key} still holds {sorted(members)}")
    if active := r.zrange(k.active(), 0, -1):
        out.append(f"slots: watchdog index {k.active()} still holds {active}")
    return out


def sandbox_processes() -> dict[str, list[int]]:
    """Live processes of any local sandbox on this host, by sandbox id (their env marker)."""
    found: dict[str, list[int]] = {}
    needle = f"{MARKER}=".encode()
    for pid, environ in read_all("environ"):
        for item in environ.split(b"\0"):
            if item.startswith(needle) and is_alive(pid):
                found.setdefault(item[len(needle):].decode(), []).append(pid)
    return found


def sandboxes(jobs: dict[str, Job], registry: SandboxRegistry, root: Path,
              created: set[str]) -> list[str]:
    """Only READY jobs keep a sandbox (their preview), and only the one on record: nothing
    registered, on disk or running belongs to a failed job or to a superseded sandbox.
    `created`: the sandbox ids of this run (other runs may have sandboxes on the host)."""
    keep = {j.sandbox_id: j for j in jobs.values() if j.status == Status.READY and j.sandbox_id}
    out = []
    for record in registry.all():
        if record.sandbox_id not in keep:
            job = jobs.get(record.job_id)
            out.append(f"sandbox: registered {record.sandbox_id} of "
                       f"{job.status.value if job else 'unknown'} job {record.job_id}")
    on_disk = {p.name for p in root.iterdir() if (p / "state.json").is_file()}
    out += [f"sandbox: {sid} still on disk" for sid in sorted(on_disk - set(keep))]
    for sid, pids in sandbox_processes().items():
        if sid not in keep and sid in created | on_disk:
            out.append(f"sandbox: processes {pids} of dead sandbox {sid} still run")
    for sid, job in keep.items():  # a READY job's preview must not have been killed
        if sid not in on_disk:
            out.append(f"sandbox: READY job {job.job_id} lost its sandbox {sid}")
    return out
