"""The job record: what Redis holds for one build, typed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from domain.status import PROGRESS, STAGE_LABELS, Status

_INT = ("attempt", "iteration", "deliveries", "redeliveries", "files_written", "redrives",
        "sandbox_replacements")
_FLOAT = ("created_at", "updated_at", "stage_started_at", "scheduled_for", "sandbox_expires_at",
          "admitted_at", "queue_seq", "lease_until")


@dataclass
class Job:
    job_id: str
    project_id: str
    user_id: str
    tier: str
    goal: str
    status: Status
    debug_id: str
    attempt: int = 1
    iteration: int = 0
    deliveries: int = 0  # deliveries of the current stage's message
    redeliveries: int = 0  # over the whole job: messages that came back after a crash/retry
    created_at: float = 0.0
    updated_at: float = 0.0
    stage_started_at: float | None = None
    scheduled_for: float | None = None
    sandbox_id: str | None = None
    sandbox_host: str | None = None  # the worker host holding a local sandbox (domain/hosts.py)
    preview_url: str | None = None  # older records only: users see the stable URL (web/preview)
    preview_upstream: str | None = None  # where the app is served from (domain/preview.py)
    preview_host: str | None = None  # the worker host a host-bound upstream is on
    build_version: str | None = None
    based_on: str | None = None  # the version this build starts from (domain/line.py)
    based_on_job: str | None = None  # that version's job
    sandbox_expires_at: float | None = None
    error_message: str | None = None
    error_detail: str | None = None
    error_code: str | None = None
    failed_stage: str | None = None
    cancelled: bool = False
    resume_at: str | None = None
    files_written: int | None = None
    redrives: int = 0  # watchdog take-overs and re-sent lost messages, over the attempt
    sandbox_replacements: int = 0  # sandboxes lost mid-build and replaced
    # Bookkeeping (never shown to clients): the last hand-off's mark (<stage>:<holder>) and
    # the message it queued; until when the build's sandbox is leased (progress renews it).
    handed_off: str | None = None
    next_message: str | None = None
    next_queue: str | None = None  # the queue `next_message` went to (none: the shared one)
    lease_until: float | None = None
    timestamps: dict[str, float] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.status in (Status.READY, Status.FAILED)

    @property
    def stage_label(self) -> str:
        return STAGE_LABELS[self.status]

    @property
    def progress(self) -> float:
        if self.status == Status.FAILED and self.failed_stage in PROGRESS:
            return PROGRESS[Status(self.failed_stage)]
        return PROGRESS[self.status]

    @classmethod
    def from_redis(cls, raw: dict[str, str]) -> Job:
        # Runs for every stage entry and status read: table lookups only, no per-key scans.
        values: dict[str, Any] = {}
        timestamps: dict[str, float] = {}
        for key, value in raw.items():
            if value == "":  # an empty field is a missing one
                continue
            if key in _TIMESTAMPS:
                timestamps[_TIMESTAMPS[key]] = float(value)
            kind = _KINDS.get(key)
            if kind is not None:
                values[key] = kind(value)
        return cls(timestamps=timestamps, **values)


_TIMESTAMPS = {f"{status.value}_at": status.value for status in Status}
_KINDS: dict[str, Any] = {name: str for name in Job.__dataclass_fields__ if name != "timestamps"}
_KINDS.update({name: kind for name, kind in ({name: int for name in _INT}
                                             | {name: float for name in _FLOAT}).items()
               if name in _KINDS} | {"cancelled": lambda value: value == "1", "status": Status})
