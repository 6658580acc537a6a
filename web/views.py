"""Response bodies: how jobs, projects, gates and events look on the wire. Times are ISO 8601
UTC strings (`2026-01-01T00:00:00Z`)."""

from __future__ import annotations

import contextlib
from functools import lru_cache
from typing import Any

from starlette.responses import JSONResponse

from domain.clock import iso
from domain.job import Job
from domain.line import Line, Version
from domain.status import CANCELLED_LABEL, PROGRESS, STAGE_LABELS, TERMINAL, Status
from web.preview.origins import PreviewOrigin

NO_PREVIEWS = PreviewOrigin()

# The hash fields the status body needs: the hot path HMGETs just these (as bytes, which
# redis-py sends as they are instead of encoding each name per request).
STATUS_FIELDS = ("job_id", "project_id", "user_id", "status", "debug_id", "attempt", "iteration",
                 "cancelled", "created_at", "updated_at", "preview_url", "build_version",
                 "error_message", "error_detail", "sandbox_expires_at", "failed_stage",
                 "scheduled_for", "goal", "files_written", "based_on")
STATUS_KEYS = tuple(name.encode() for name in STATUS_FIELDS)


@lru_cache(maxsize=16384)
def _iso(value: str) -> str | None:
    # Cached by the stored string: polling clients ask for the same timestamps again and again.
    return iso(float(value))


def _time(raw: dict[str, str], key: str) -> str | None:
    value = raw.get(key)
    return _iso(value) if value else None


def preview_url(previews: PreviewOrigin, job_id: str, status: str) -> str | None:
    """A READY build's stable preview URL (docs/previews.md), from its id alone."""
    return previews.url(job_id) if status == Status.READY.value else None


def job_status(raw: dict[str, str], queue_position: int | None = None,
               eta_seconds: float | None = None,
               previews: PreviewOrigin = NO_PREVIEWS) -> dict[str, Any]:
    """The status body, straight from the job's Redis hash (the hot path skips `Job`)."""
    status = Status(raw["status"])
    failed_stage = raw.get("failed_stage") or None
    progress = PROGRESS[status]
    if status == Status.FAILED and failed_stage in PROGRESS:
        progress = PROGRESS[Status(failed_stage)]
    files = raw.get("files_written")
    return {
        "job_id": raw["job_id"],
        "project_id": raw["project_id"],
        "status": status.value,
        "stage_label": STAGE_LABELS[status],
        "progress": progress,
        "queue_position": queue_position,
        "eta_seconds": eta_seconds,
        "preview_url": preview_url(previews, raw["job_id"], status.value),
        "build_version": raw.get("build_version") or None,
        "based_on": raw.get("based_on") or None,
        "error_message": raw.get("error_message") or None,
        "debug_id": raw.get("debug_id") or "",
        "sandbox_expires_at": _time(raw, "sandbox_expires_at"),
        "cancelled": raw.get("cancelled") == "1",
        "attempt": int(raw.get("attempt") or 1),
        "iteration": int(raw.get("iteration") or 0),
        "created_at": _time(raw, "created_at"),
        "updated_at": _time(raw, "updated_at"),
        # Beyond DESIGN's table, for the build page: what was asked, when a scheduled build
        # starts, and on failure where it stopped plus the sanitized (scrubbed) detail.
        "goal": raw.get("goal") or "",
        "scheduled_for": _time(raw, "scheduled_for"),
        "failed_stage": failed_stage,
        "error_detail": raw.get("error_detail") or None,
        "files_written": int(files) if files else None,
    }


@lru_cache(maxsize=1024)
def status_body(values: tuple[str | None, ...], previews: PreviewOrigin = NO_PREVIEWS) -> bytes:
    """The status body as JSON, for a job that is not waiting (no queue position or ETA), from
    its STATUS_FIELDS values. Cached by those values: a job is polled far more often than it
    changes, and its body depends on nothing else. (Bounded: goal and error detail are too.)"""
    raw = dict(zip(STATUS_FIELDS, values, strict=True))
    return bytes(JSONResponse(job_status(raw, previews=previews)).body)


def pipeline() -> dict[str, Any]:
    """The pipeline's user-facing vocabulary, for clients that draw it (the build page): every
    status in pipeline order with its label, progress and whether it ends a build, and a
    cancelled build's label."""
    return {"statuses": [{"status": s.value, "label": STAGE_LABELS[s], "progress": PROGRESS[s],
                          "terminal": s in TERMINAL} for s in Status],
            "cancelled_label": CANCELLED_LABEL}


def build_summary(job: Job, previews: PreviewOrigin = NO_PREVIEWS) -> dict[str, Any]:
    return {"job_id": job.job_id, "status": job.status.value, "stage_label": job.stage_label,
            "build_version": job.build_version, "based_on": job.based_on,
            "preview_url": preview_url(previews, job.job_id, job.status.value),
            "error_message": job.error_message, "created_at": iso(job.created_at),
            "updated_at": iso(job.updated_at)}


def gate(record: dict[str, Any]) -> dict[str, Any]:
    return {"gate_id": record["gate_id"], "project_id": record["project_id"],
            "job_id": record["job_id"], "build_version": record["build_version"],
            "type": record["type"], "status": record["status"], "prompt": record["prompt"],
            "decision": record.get("decision"), "resolution": record.get("resolution"),
            "created_at": iso(record.get("created_at")),
            "resolved_at": iso(record.get("resolved_at"))}


def project(record: dict[str, Any], builds: list[Job], pending_gate: dict[str, Any] | None,
            previews: PreviewOrigin = NO_PREVIEWS) -> dict[str, Any]:
    return {"project_id": record["project_id"], "name": record["name"],
            "created_at": iso(record["created_at"]),
            "builds": [build_summary(job, previews) for job in builds],
            "pending_gate": gate(pending_gate) if pending_gate else None}


def version(v: Version, foundation: Version | None,
            previews: PreviewOrigin = NO_PREVIEWS) -> dict[str, Any]:
    return {"build_version": v.build_version, "job_id": v.job_id, "goal": v.goal,
            "based_on": v.based_on, "created_at": iso(v.created_at), "ready_at": iso(v.ready_at),
            "decision": v.decision, "foundation": foundation is not None and v is foundation,
            "preview_url": previews.url(v.job_id), "sandbox_expires_at": iso(v.sandbox_expires_at)}


def versions(project_id: str, line: Line,
             previews: PreviewOrigin = NO_PREVIEWS) -> dict[str, Any]:
    """The project's line: its READY versions oldest first, the foundation, and what the next
    build starts from (null: fresh from its goal)."""
    return {"project_id": project_id,
            "foundation": line.foundation.build_version if line.foundation else None,
            "next_based_on": line.base.build_version if line.base else None,
            "versions": [version(v, line.foundation, previews) for v in line.versions]}


# Stream entry fields a client may see; anything else (e.g. sandbox ids) stays server-side.
# (A READY event's preview_url is the stable URL, derived; the stream's upstream stays here.)
_EVENT_FIELDS = ("status", "from", "attempt", "iteration", "build_version", "error_message",
                 "error_detail", "error_code", "failed_stage", "cancelled")
_EVENT_TIMES = ("at", "sandbox_expires_at")


def event(fields: dict[str, str], job_id: str = "",
          previews: PreviewOrigin = NO_PREVIEWS) -> dict[str, Any]:
    """One job stream entry as an SSE payload (READY with the stable preview URL)."""
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
    url = preview_url(previews, job_id, status or "") if out["type"] == "status" else None
    if url:
        out["preview_url"] = url
    if status in STAGE_LABELS:
        out["stage_label"] = STAGE_LABELS[Status(status)]
        out["progress"] = PROGRESS[Status(status)]
        if status == Status.FAILED and fields.get("failed_stage") in PROGRESS:
            out["progress"] = PROGRESS[Status(fields["failed_stage"])]
    return out
