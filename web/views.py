"""Response bodies: how jobs, projects, gates and events look on the wire. Times are ISO 8601
UTC strings (`2026-01-01T00:00:00Z`)."""

from __future__ import annotations

import contextlib
from typing import Any

from domain.clock import iso
from domain.job import Job
from domain.status import PROGRESS, STAGE_LABELS, Status


def job_status(job: Job, queue_position: int | None = None,
               eta_seconds: float | None = None) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "project_id": job.project_id,
        "status": job.status.value,
        "stage_label": job.stage_label,
        "progress": job.progress,
        "queue_position": queue_position,
        "eta_seconds": eta_seconds,
        "preview_url": job.preview_url,
        "build_version": job.build_version,
        "error_message": job.error_message,
        "debug_id": job.debug_id,
        "sandbox_expires_at": iso(job.sandbox_expires_at),
        "cancelled": job.cancelled,
        "attempt": job.attempt,
        "iteration": job.iteration,
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
    }


def build_summary(job: Job) -> dict[str, Any]:
    return {"job_id": job.job_id, "status": job.status.value, "stage_label": job.stage_label,
            "build_version": job.build_version, "preview_url": job.preview_url,
            "error_message": job.error_message, "created_at": iso(job.created_at),
            "updated_at": iso(job.updated_at)}


def gate(record: dict[str, Any]) -> dict[str, Any]:
    return {"gate_id": record["gate_id"], "project_id": record["project_id"],
            "job_id": record["job_id"], "build_version": record["build_version"],
            "type": record["type"], "status": record["status"], "prompt": record["prompt"],
            "decision": record.get("decision"), "resolution": record.get("resolution"),
            "created_at": iso(record.get("created_at")),
            "resolved_at": iso(record.get("resolved_at"))}


def project(record: dict[str, Any], builds: list[Job],
            pending_gate: dict[str, Any] | None) -> dict[str, Any]:
    return {"project_id": record["project_id"], "name": record["name"],
            "created_at": iso(record["created_at"]),
            "builds": [build_summary(job) for job in builds],
            "pending_gate": gate(pending_gate) if pending_gate else None}


# Stream entry fields a client may see; anything else (e.g. error_detail) stays server-side.
_EVENT_FIELDS = ("status", "from", "attempt", "iteration", "build_version", "preview_url",
                 "error_message", "error_code", "failed_stage", "cancelled")
_EVENT_TIMES = ("at", "sandbox_expires_at")


def event(fields: dict[str, str]) -> dict[str, Any]:
    """One job stream entry as an SSE payload."""
    out: dict[str, Any] = {"type": fields.get("type", "status")}
    for name in _EVENT_FIELDS:
        if fields.get(name):
            out[name] = fields[name]
    for name in ("attempt", "iteration"):
        if name in out and out[name].isdigit():
            out[name] = int(out[name])
    if fields.get("position", "").isdigit():  # queue events: the job's new place and ETA
        out["queue_position"] = int(fields["position"])
        with contextlib.suppress(KeyError, ValueError):
            out["eta_seconds"] = float(fields["eta_seconds"])
    if "cancelled" in out:
        out["cancelled"] = out["cancelled"] == "1"
    for name in _EVENT_TIMES:
        if fields.get(name):
            with contextlib.suppress(ValueError):
                out[name] = iso(float(fields[name]))
    status = fields.get("status")
    if status in STAGE_LABELS:
        out["stage_label"] = STAGE_LABELS[Status(status)]
        out["progress"] = PROGRESS[Status(status)]
        if status == Status.FAILED and fields.get("failed_stage") in PROGRESS:
            out["progress"] = PROGRESS[Status(fields["failed_stage"])]
    return out
