"""A project is a line of versions: which READY version a new build starts from.

The rules (docs/versions.md), read from the project's history in time order:
- a version becoming READY, or an `iterate` decision on a version: the next build starts from
  that version, and its goal is a change request to it;
- `solidify` on a version: the same, and the version is the project's foundation; builds that
  fail later are not versions, so they never move the base;
- `abandon` on a version: the line ends; the next build starts fresh from its goal, and the
  project has no foundation until something is solidified again.
The base is decided when a build starts and recorded on it (`based_on`, `based_on_job`).
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.gate_store import GateStore
from domain.gates import GateDecision
from domain.status import Status
from domain.store import JobStore
from domain.versions import build_number

VERSION_FIELDS = ("job_id", "status", "build_version", "goal", "based_on", "created_at",
                  "ready_at", "preview_url", "sandbox_expires_at")
MAX_VERSIONS = 1000  # the newest versions read per project


@dataclass(frozen=True)
class Version:
    build_version: str
    job_id: str
    goal: str  # the first goal of a line, or the change request to `based_on`
    based_on: str | None
    created_at: float
    ready_at: float
    preview_url: str | None = None
    sandbox_expires_at: float | None = None
    decision: str | None = None  # iterate | solidify | abandon, once decided
    decided_at: float | None = None

    @property
    def number(self) -> int:
        return build_number(self.build_version)


@dataclass(frozen=True)
class Line:
    versions: list[Version]  # oldest first
    base: Version | None  # what the next build starts from; None: fresh from its goal
    foundation: Version | None


def plan(versions: list[Version]) -> Line:
    """Apply the rules to a project's READY versions (with their decisions)."""
    events = [(v.ready_at, 0, v.number, "ready", v) for v in versions]
    events += [(v.decided_at or v.ready_at, 1, v.number, v.decision, v) for v in versions
               if v.decision]
    base = foundation = None
    for *_, kind, version in sorted(events, key=lambda e: e[:3]):
        if kind == GateDecision.ABANDON:
            base = foundation = None
            continue
        base = version
        if kind == GateDecision.SOLIDIFY:
            foundation = version
    return Line(sorted(versions, key=lambda v: v.number), base, foundation)


class ProjectLine:
    """Reads a project's versions and decisions from Redis."""

    def __init__(self, store: JobStore, gates: GateStore) -> None:
        self.store = store
        self.gates = gates
        self.redis = store.redis
        self.keys = store.keys

    def read(self, project_id: str) -> Line:
        seq = int(self.redis.get(self.keys.build_seq(project_id)) or 0)
        if not seq:
            return Line([], None, None)  # no READY build yet: nothing else to read
        index = self._index(project_id, seq)
        pipe = self.redis.pipeline(transaction=False)
        for job_id in index[-MAX_VERSIONS:]:
            pipe.hmget(self.keys.job(job_id), VERSION_FIELDS)
        decided = {g["build_version"]: g for g in self.gates.list(project_id)
                   if g.get("resolution") == "decided"}
        versions = [_version(dict(zip(VERSION_FIELDS, values, strict=True)), decided)
                    for values in pipe.execute()]
        return plan([v for v in versions if v is not None])

    def _index(self, project_id: str, seq: int) -> list[str]:
        """The project's READY job ids by build number. The READY transition adds each one
        (transition_lib.lua); versions made before that index existed are added here once."""
        key = self.keys.project_versions(project_id)
        if self.redis.zcard(key) < seq:
            self._backfill(project_id)
        return self.redis.zrange(key, 0, -1)

    def _backfill(self, project_id: str) -> None:
        ids = self.redis.zrange(self.keys.project_jobs(project_id), 0, -1)
        pipe = self.redis.pipeline(transaction=False)
        for job_id in ids:
            pipe.hmget(self.keys.job(job_id), ("status", "build_version"))
        found = {job_id: build_number(version) for job_id, (status, version)
                 in zip(ids, pipe.execute(), strict=True)
                 if status == Status.READY.value and version}
        if found:
            self.redis.zadd(self.keys.project_versions(project_id), found, nx=True)


def _version(raw: dict[str, str | None], decided: dict[str, dict]) -> Version | None:
    if raw["status"] != Status.READY.value or not raw["build_version"]:
        return None
    gate = decided.get(raw["build_version"], {})
    expires = raw["sandbox_expires_at"]
    return Version(raw["build_version"], raw["job_id"] or "", raw["goal"] or "",
                   raw["based_on"] or None, float(raw["created_at"] or 0),
                   float(raw["ready_at"] or raw["created_at"] or 0), raw["preview_url"] or None,
                   float(expires) if expires else None, gate.get("decision"),
                   gate.get("resolved_at"))
