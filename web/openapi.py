"""/openapi.json: the API schema (OpenAPI 3.1), built by hand to match web/views.py and
web/errors.py exactly; tests/web run schemathesis against it."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from domain.gates import GateDecision, GateStatus
from domain.ids import ID_PATTERN
from domain.status import Status
from domain.tiers import Tier
from web.bodies import GOAL_MAX, NAME_MAX

_ERROR_TEXT = {401: "Missing, malformed, wrongly signed or expired token",
               403: "No subscription tier", 404: "Not found (or not yours)",
               409: "Conflict with the current state", 413: "Body too large",
               422: "Invalid body or parameters", 503: "Unavailable (queue full, or Redis unreachable)"}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": props,
            "required": list(props) if required is None else required}


S = {"type": "string"}
NS = {"type": ["string", "null"]}
N = {"type": "integer", "minimum": 0}
TEXT = {"type": "string", "minLength": 1, "pattern": r"\S"}
_ID = {"type": "string", "pattern": f"^{ID_PATTERN}$"}  # any other id is a 404 (web/ids.py)


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


_STATUS = {"type": "string", "enum": [s.value for s in Status]}
_BUILD = _obj({"job_id": S, "status": _STATUS, "stage_label": S, "build_version": NS,
               "based_on": NS, "preview_url": NS, "error_message": NS, "created_at": NS,
               "updated_at": NS})
_GATE = _obj({"gate_id": S, "project_id": S, "job_id": S, "build_version": S, "type": S,
              "status": {"type": "string", "enum": [s.value for s in GateStatus]}, "prompt": S,
              "decision": _nullable({"type": "string", "enum": [d.value for d in GateDecision]}),
              "resolution": NS, "created_at": NS, "resolved_at": NS})
_PROJECT = _obj({"project_id": S, "name": S, "created_at": NS,
                 "builds": {"type": "array", "items": _ref("Build")},
                 "pending_gate": _nullable(_ref("Gate"))})

SCHEMAS: dict[str, Any] = {
    "Error": _obj({"detail": S, "code": S}),
    "ProjectCreate": _obj({"name": {**TEXT, "maxLength": NAME_MAX}}),
    "ProjectCreated": _obj({"project_id": S, "name": S, "created_at": NS}),
    "Project": _PROJECT,
    "ProjectList": _obj({"projects": {"type": "array", "items": _ref("Project")}}),
    "Build": _BUILD,
    "Gate": _GATE,
    "GateList": _obj({"gates": {"type": "array", "items": _ref("Gate")}}),
    "GateResolve": _obj({"decision": {"type": "string",
                                      "enum": [d.value for d in GateDecision]}}),
    "StartRequest": _obj({"project_id": {**TEXT, "maxLength": 200},
                          "goal": {**TEXT, "maxLength": GOAL_MAX}}),
    "StartResponse": _obj({"job_id": S, "status": _STATUS, "build_version": S,
                           "queue_position": {"type": ["integer", "null"]},
                           "scheduled_for": NS, "based_on": NS}),
    "JobStatus": _obj({
        "job_id": S, "project_id": S, "status": _STATUS, "stage_label": S,
        "progress": {"type": "number", "minimum": 0, "maximum": 1},
        "queue_position": {"type": ["integer", "null"]}, "eta_seconds": {"type": ["number", "null"]},
        "preview_url": NS, "build_version": NS, "based_on": NS, "error_message": NS,
        "debug_id": S, "sandbox_expires_at": NS, "cancelled": {"type": "boolean"}, "attempt": N,
        "iteration": N, "created_at": NS, "updated_at": NS, "goal": S, "scheduled_for": NS,
        "failed_stage": NS, "error_detail": NS, "files_written": {"type": ["integer", "null"]}},
        required=["job_id", "project_id", "status", "stage_label", "progress", "queue_position",
                  "eta_seconds", "preview_url", "build_version", "based_on", "error_message",
                  "debug_id", "sandbox_expires_at", "cancelled", "attempt", "iteration",
                  "created_at", "updated_at"]),
    "Cancelled": _obj({"job_id": S, "status": {"type": "string", "enum": ["cancelled"]},
                       "message": S}),
    "PreviewLink": _obj({"url": S, "preview_url": S, "expires_at": S}),
    "PreviewViewed": _obj({"gate_id": S, "status": {
        "type": "string", "enum": ["gate_created", "gate_already_created"]}, "prompt": S}),
    "Pipeline": _obj({"statuses": {"type": "array", "items": _obj({
        "status": _STATUS, "label": S, "progress": {"type": "number", "minimum": 0,
                                                    "maximum": 1},
        "terminal": {"type": "boolean"}})},
                      "cancelled_label": S}),
    "Usage": _obj({"tier": _nullable({"type": "string", "enum": [t.value for t in Tier]}),
                   "jobs_used": N, "jobs_remaining": N, "resets_at": NS, "running": N,
                   "queued": N, "scheduled": N},
                  required=["tier", "jobs_used", "jobs_remaining", "resets_at"]),
    "Health": _obj({"status": S}),
    "Version": _obj({"build_version": S, "job_id": S, "goal": S, "based_on": NS,
                     "created_at": NS, "ready_at": NS,
                     "decision": _nullable({"type": "string",
                                            "enum": [d.value for d in GateDecision]}),
                     "foundation": {"type": "boolean"}, "preview_url": NS,
                     "sandbox_expires_at": NS}),
    "VersionList": _obj({"project_id": S, "foundation": NS, "next_based_on": NS,
                         "versions": {"type": "array", "items": _ref("Version")}}),
    "FileList": _obj({"job_id": S, "build_version": NS, "total_bytes": N,
                      "files": {"type": "array",
                                "items": _obj({"path": S, "size": N})}}),
}


def _json(schema: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": _ref(schema)}}}


def _op(summary: str, ok: int, ok_body: dict[str, Any], errors: tuple[int, ...] = (),
        body: str | None = None, params: tuple[str, ...] = (), auth: bool = True,
        headers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    responses: dict[str, Any] = {str(ok): ok_body}
    if auth:  # every API route answers 503 + Retry-After while Redis is unreachable
        errors = (*errors, 503) if 503 not in errors else errors
    for status in errors:
        responses[str(status)] = _json("Error", _ERROR_TEXT[status])
    if 503 in errors and auth:
        responses["503"]["headers"] = {"Retry-After": {"schema": {"type": "integer"},
                                                       "required": True}}
    op: dict[str, Any] = {"summary": summary, "responses": responses,
                          "security": [{"bearer": []}] if auth else []}
    parameters = [{"name": p, "in": "path", "required": True, "schema": _ID}
                  for p in params] + (headers or [])
    if parameters:
        op["parameters"] = parameters
    if body:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": _ref(body)}}}
    return op


def _text(media: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": {"type": "string"}}}}


# One Server-Sent Event: `snapshot` (data = JobStatus) first, then `status`/`queue` events
# (data = the stream entry) whose ids are the job's Redis Stream ids.
_SSE_EVENT = {"description": "text/event-stream", "content": {"text/event-stream": {"schema": {
    "type": "object", "required": ["data"],
    "properties": {"id": {"type": "string", "pattern": r"^\d+-\d+$"}, "event": S,
                   "data": {"type": "string", "contentMediaType": "application/json"},
                   "retry": {"type": "integer"}}}}}}


def _header(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": False, "description": description,
            "schema": {"type": "string", "maxLength": 255}}


PATHS: dict[str, Any] = {
    "/api/projects": {
        "post": _op("Create a project", 201, _json("ProjectCreated", "Created"), (401, 413, 422),
                    body="ProjectCreate"),
        "get": _op("The caller's projects", 200, _json("ProjectList"), (401,))},
    "/api/projects/{project_id}": {
        "get": _op("One project with its builds and pending gate", 200, _json("Project"),
                   (401, 404), params=("project_id",))},
    "/api/projects/{project_id}/gates": {
        "get": _op("A project's gates", 200, _json("GateList"), (401, 404),
                   params=("project_id",))},
    "/api/projects/{project_id}/versions": {
        "get": _op("A project's line: READY versions oldest first, the foundation, and what "
                   "the next build starts from", 200, _json("VersionList"), (401, 404),
                   params=("project_id",))},
    "/api/gates/{gate_id}/resolve": {
        "post": _op("Resolve a pending gate", 200, _json("Gate"), (401, 404, 409, 413, 422),
                    body="GateResolve", params=("gate_id",))},
    "/api/generation/start": {
        "post": _op("Start a build", 201, _json("StartResponse", "Created"),
                    (401, 403, 404, 409, 413, 422, 503), body="StartRequest",
                    headers=[_header("Idempotency-Key", "Retries return the same job (24 h)")])},
    "/api/generation/{job_id}/status": {
        "get": _op("A build's status", 200, _json("JobStatus"), (401, 404),
                   params=("job_id",))},
    "/api/generation/{job_id}/events": {
        "get": _op("A build's live events (SSE): snapshot, then one event per transition", 200,
                   _SSE_EVENT, (401, 404), params=("job_id",),
                   headers=[_header("Last-Event-ID", "Resume after this event id")])},
    "/api/generation/{job_id}/cancel": {
        "post": _op("Cancel a build", 200, _json("Cancelled"), (401, 404, 409),
                    params=("job_id",))},
    "/api/generation/{job_id}/preview-viewed": {
        "post": _op("Record that the preview was seen (creates the gate)", 200,
                    _json("PreviewViewed"), (401, 404, 409), params=("job_id",))},
    "/api/generation/{job_id}/preview-link": {
        "post": _op("A signed, expiring link to a READY build's preview (docs/previews.md)",
                    200, _json("PreviewLink"), (401, 404, 409), params=("job_id",))},
    "/api/generation/{job_id}/files": {
        "get": _op("A READY build's files: paths and sizes", 200, _json("FileList"),
                   (401, 404, 409), params=("job_id",))},
    "/api/generation/{job_id}/files.zip": {
        "get": _op("A READY build's source tree as a zip", 200, {
            "description": "OK", "content": {"application/zip": {
                "schema": {"type": "string", "format": "binary"}}}},
            (401, 404, 409), params=("job_id",))},
    "/api/usage": {"get": _op("The caller's quota and usage", 200, _json("Usage"), (401,))},
    "/api/pipeline": {"get": _op("Every status in pipeline order with its label and progress, "
                                 "and a cancelled build's label", 200, _json("Pipeline"),
                                 auth=False)},
    "/healthz": {"get": _op("Liveness", 200, _json("Health"), auth=False)},
    "/readyz": {"get": _op("Readiness: Redis reachable", 200, _json("Health"), (503,),
                           auth=False)},
    "/metrics": {"get": _op("Prometheus metrics (bearer KILN_METRICS_TOKEN when it is set)", 200,
                            _text("text/plain"), (401,), auth=False)},
    "/openapi.json": {"get": _op("This schema", 200, {
        "description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}},
        auth=False)},
    "/": {"get": _op("The build page", 200, _text("text/html"), auth=False)},
}

PATHS["/api/generation/{job_id}/events"]["get"]["responses"]["204"] = {
    "description": "Resumed (Last-Event-ID) after the end of a finished build: nothing is left"}

SCHEMA: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Kiln", "version": "1.0.0",
             "description": "Start app builds, follow them live, cancel them, decide on gates, "
                            "list a project's versions and export their files. "
                            "Errors are {detail, code}."},
    "paths": PATHS,
    "components": {"schemas": SCHEMAS, "securitySchemes": {
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
}


async def openapi(_request: Request) -> JSONResponse:
    return JSONResponse(SCHEMA)
