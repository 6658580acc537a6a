"""Redis key names, in one place. Every key starts with the configured prefix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str = "kiln"

    def job(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def events(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}:events"

    def cancel(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}:cancel"

    def files(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}:files"

    def feedback(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}:feedback"

    def project(self, project_id: str) -> str:
        return f"{self.prefix}:project:{project_id}"

    def project_jobs(self, project_id: str) -> str:
        return f"{self.prefix}:project:{project_id}:jobs"

    def build_seq(self, project_id: str) -> str:
        return f"{self.prefix}:project:{project_id}:build_seq"

    def project_versions(self, project_id: str) -> str:
        """ZSET job_id -> build number: the project's READY builds (its versions)."""
        return f"{self.prefix}:project:{project_id}:versions"

    def user_projects(self, user_id: str) -> str:
        return f"{self.prefix}:user:{user_id}:projects"

    def user_jobs(self, user_id: str) -> str:
        return f"{self.prefix}:user:{user_id}:jobs"

    def active(self) -> str:
        """ZSET job_id -> deadline of its current stage (the watchdog's index)."""
        return f"{self.prefix}:active"

    def failed(self) -> str:
        """ZSET job_id -> time it failed (bin/replay's index)."""
        return f"{self.prefix}:failed"

    def sandboxes(self) -> str:
        """HASH sandbox_id -> JSON registration (job, runtime, host, created_at, expires_at)."""
        return f"{self.prefix}:sandboxes"

    def live_global(self) -> str:
        return f"{self.prefix}:live"

    def live_user(self, user_id: str) -> str:
        return f"{self.prefix}:live:user:{user_id}"

    def live_project(self, project_id: str) -> str:
        return f"{self.prefix}:live:project:{project_id}"

    def gate(self, gate_id: str) -> str:
        return f"{self.prefix}:gate:{gate_id}"

    def project_gates(self, project_id: str) -> str:
        return f"{self.prefix}:project:{project_id}:gates"

    def pending_gate(self, project_id: str) -> str:
        return f"{self.prefix}:project:{project_id}:pending_gate"

    def idempotency(self, user_id: str, key: str) -> str:
        return f"{self.prefix}:idem:{user_id}:{key}"

    def gate_by_version(self, project_id: str, build_version: str) -> str:
        """STRING gate_id of the project's gate for one build version (idempotent creation)."""
        return f"{self.prefix}:project:{project_id}:gate:{build_version}"

    def sse_wake(self, token: str) -> str:
        """STREAM one web process appends to, to wake its own blocked SSE reader."""
        return f"{self.prefix}:sse:wake:{token}"

    # -- capacity (domain/capacity.py and domain/lua/capacity_lib.lua build the same names) --
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
