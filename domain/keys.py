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
