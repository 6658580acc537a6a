"""Redis key names, in one place. Every key starts with the configured prefix.

A job's keys share its id as a hash tag (`kiln:job:{<job_id>}`, `...:events`, `...:files`,
...), and a project's keys its id (`kiln:project:{<project_id>}:...`): each lands in one Redis
Cluster slot. Lua scripts get every key they touch in KEYS, named here; the lists below give
them in the order the scripts read them. The one exception is a key named by an id a script
reads from data (an admission walking the queue): `names()` hands those scripts the name's
shape instead. docs/operations.md, "Redis layout", has the whole map.
"""

from __future__ import annotations

from dataclasses import dataclass

_ID = "\0"  # stands in for an id in names(): never part of a real one


@dataclass(frozen=True)
class Keys:
    prefix: str = "kiln"

    # -- a job: one hash tag, the job's id ------------------------------------------------
    def job(self, job_id: str) -> str:
        return f"{self.prefix}:job:{{{job_id}}}"

    def events(self, job_id: str) -> str:
        return f"{self.job(job_id)}:events"

    def cancel(self, job_id: str) -> str:
        return f"{self.job(job_id)}:cancel"

    def files(self, job_id: str) -> str:
        return f"{self.job(job_id)}:files"

    def feedback(self, job_id: str) -> str:
        """STRING the last failed checks' output, for the fix loop's next code stage."""
        return f"{self.job(job_id)}:feedback"

    def feedback_fingerprint(self, job_id: str) -> str:
        """STRING the shape of that failure: the fix loop stops when it repeats."""
        return f"{self.job(job_id)}:feedback:fp"

    def wake(self, job_id: str) -> str:
        """HASH the wake of the job's expired preview in progress, or its failure (expires;
        domain/wake.py)."""
        return f"{self.job(job_id)}:wake"

    def resent(self, job_id: str, attempt: int) -> str:
        """Marker: the housekeeper re-sent this attempt's lost `starting` message (expires)."""
        return f"{self.job(job_id)}:resent:{attempt}"

    # -- a project: one hash tag, the project's id ----------------------------------------
    def project(self, project_id: str) -> str:
        return f"{self.prefix}:project:{{{project_id}}}"

    def project_jobs(self, project_id: str) -> str:
        return f"{self.project(project_id)}:jobs"

    def build_seq(self, project_id: str) -> str:
        return f"{self.project(project_id)}:build_seq"

    def project_versions(self, project_id: str) -> str:
        """ZSET job_id -> build number: the project's READY builds (its versions)."""
        return f"{self.project(project_id)}:versions"

    def project_gates(self, project_id: str) -> str:
        return f"{self.project(project_id)}:gates"

    def pending_gate(self, project_id: str) -> str:
        return f"{self.project(project_id)}:pending_gate"

    def gate_by_version(self, project_id: str, build_version: str) -> str:
        """STRING gate_id of the project's gate for one build version (idempotent creation)."""
        return f"{self.project(project_id)}:gate:{build_version}"

    # -- a user ---------------------------------------------------------------------------
    def user_projects(self, user_id: str) -> str:
        return f"{self.prefix}:user:{user_id}:projects"

    def user_jobs(self, user_id: str) -> str:
        return f"{self.prefix}:user:{user_id}:jobs"

    def idempotency(self, user_id: str, key: str) -> str:
        return f"{self.prefix}:idem:{user_id}:{key}"

    # -- gates, sandboxes, the web tier, housekeeping, metrics ----------------------------
    def gate(self, gate_id: str) -> str:
        return f"{self.prefix}:gate:{gate_id}"

    def sandboxes(self) -> str:
        """HASH sandbox_id -> JSON registration (job, runtime, host, created_at, expires_at)."""
        return f"{self.prefix}:sandboxes"

    def gateway(self, host: str) -> str:
        """STRING the URL of that worker host's preview gateway (expires unless renewed)."""
        return f"{self.prefix}:gateway:{host}"

    def sse_wake(self, token: str) -> str:
        """STREAM one web process appends to, to wake its own blocked SSE reader."""
        return f"{self.prefix}:sse:wake:{token}"

    def hosts(self) -> str:
        """SET of the worker hosts that have beaten (the lost-host sweep's first look)."""
        return f"{self.prefix}:hosts"

    def host(self, host_id: str) -> str:
        """STRING heartbeat of a worker host (expires after KILN_HOST_TTL_S): gone = host lost."""
        return f"{self.prefix}:host:{host_id}"

    def housekeeping(self, task: str) -> str:
        """Lock: one process runs this housekeeping task per interval (expires)."""
        return f"{self.prefix}:housekeeping:{task}"

    def metrics(self) -> str:
        """HASH `metric|label...` -> count: the workers' counters (domain/telemetry.py)."""
        return f"{self.prefix}:metrics"

    # -- the watchdog and bin/replay --------------------------------------------------------
    def active(self) -> str:
        """ZSET job_id -> deadline of its current stage (the watchdog's index)."""
        return f"{self.prefix}:active"

    def failed(self) -> str:
        """ZSET job_id -> time it failed (bin/replay's index)."""
        return f"{self.prefix}:failed"

    # -- capacity (domain/capacity.py, domain/lua/capacity_lib.lua) -----------------------
    def live_global(self) -> str:
        return f"{self.prefix}:live"

    def live_user(self, user_id: str) -> str:
        return f"{self.prefix}:live:user:{user_id}"

    def live_project(self, project_id: str) -> str:
        return f"{self.prefix}:live:project:{project_id}"

    def queue(self) -> str:
        """ZSET job_id -> order key: the jobs waiting for admission, head first."""
        return f"{self.prefix}:queue"

    def queue_seq(self) -> str:
        """Counter handing out order keys for the admission queue."""
        return f"{self.prefix}:queue:seq"

    def queue_user(self, user_id: str) -> str:
        """SET of the user's job ids in the admission queue (usage counts)."""
        return f"{self.prefix}:queue:user:{user_id}"

    def queue_published(self) -> str:
        """HASH job_id -> queue position last published to the job's event stream."""
        return f"{self.prefix}:queue:published"

    def scheduled(self) -> str:
        """ZSET job_id -> scheduled_for: over-quota jobs waiting for their UTC day."""
        return f"{self.prefix}:scheduled"

    def scheduled_user(self, user_id: str) -> str:
        return f"{self.prefix}:scheduled:user:{user_id}"

    def quota(self, user_id: str, day: str) -> str:
        """Counter of the user's jobs counted against one UTC day (YYYY-MM-DD); expires."""
        return f"{self.prefix}:quota:{user_id}:{day}"

    def build_durations(self) -> str:
        """LIST of recent build durations in seconds, newest first (the ETA's moving average)."""
        return f"{self.prefix}:build_durations"

    # -- what scripts are given -----------------------------------------------------------
    def job_state(self, job_id: str, user_id: str | None = None,
                  project_id: str | None = None) -> list[str]:
        """A job-state script's keys (transition_lib.lua: state_keys): job, events, cancel,
        active, failed; with the job's user and project also what a terminal transition frees
        or writes: live, live_user, live_project, build_seq, versions."""
        keys = [self.job(job_id), self.events(job_id), self.cancel(job_id), self.active(),
                self.failed()]
        if user_id is not None and project_id is not None:
            keys += [self.live_global(), self.live_user(user_id), self.live_project(project_id),
                     self.build_seq(project_id), self.project_versions(project_id)]
        return keys

    def capacity(self) -> list[str]:
        """The capacity scripts' shared keys (capacity_lib.lua: capacity_keys): queue, its
        order counter, published positions, live, scheduled, build durations."""
        return [self.queue(), self.queue_seq(), self.queue_published(), self.live_global(),
                self.scheduled(), self.build_durations()]

    def names(self) -> dict[str, tuple[str, str]]:
        """The shape (before the id, after it) of each key a capacity script names from an id
        it read in data: a queue entry's job and events, its user's and project's sets, a
        wake's mark (a slot held by a wake, reap_slots.lua)."""
        shapes = {"job": self.job, "events": self.events, "queue_user": self.queue_user,
                  "scheduled_user": self.scheduled_user, "live_user": self.live_user,
                  "live_project": self.live_project, "wake": self.wake}
        out = {}
        for kind, name in shapes.items():
            before, _, after = name(_ID).partition(_ID)
            out[kind] = (before, after)
        return out
