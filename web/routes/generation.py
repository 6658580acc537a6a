"""Builds: start, status, cancel, preview-viewed, and the pipeline they walk. (Live events are
in web/sse.py.)"""

from __future__ import annotations

import time
from typing import Any

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.capacity import CancelResult, QueueFull
from domain.clock import iso
from domain.failures import CANCELLED_MESSAGE
from domain.gate_store import GateCreate
from domain.gates import GATE_PROMPT
from domain.job import Job
from domain.line import ProjectLine
from domain.logs import bind_job_context, get_logger
from domain.messages import send_stage
from domain.status import CANCELLED_LABEL, Status
from domain.tiers import Tier
from web import views
from web.auth import authenticate, require_tier
from web.bodies import GOAL_MAX, json_object, text
from web.errors import ApiError
from web.idempotency import fingerprint, validate_key
from web.state import Kiln, blocking, kiln, owned_job, owned_project, require_owner

log = get_logger("kiln.web")


def _send_admitted(k: Kiln, admitted: list[tuple[str, int]]) -> None:
    for job_id, attempt in admitted:
        try:
            send_stage(k.broker, Status.STARTING, job_id, attempt)
        except RedisError as exc:  # the job stays queued+admitted; the housekeeper re-sends it
            log.error("send_starting_failed", job_id=job_id, error=type(exc).__name__)


def _start(k: Kiln, project_id: str, user_id: str, tier: Tier, goal: str) -> dict[str, Any]:
    if k.gates.pending_id(project_id):
        raise ApiError(409, "gate_pending",
                       "This project has a pending decision; resolve its gate first")
    # What the build starts from is decided now, by the project's line (docs/versions.md).
    base = ProjectLine(k.store, k.gates).read(project_id).base
    fields = {"based_on": base.build_version, "based_on_job": base.job_id} if base else {}
    try:
        decision = k.capacity.start(project_id, user_id, tier.value, goal, **fields)
    except QueueFull as exc:
        raise ApiError(503, "queue_full", "The build queue is full; try again shortly",
                       {"Retry-After": str(max(1, int(exc.retry_after)))}) from None
    _send_admitted(k, decision.admitted)
    job = decision.job
    bind_job_context(job_id=job.job_id, debug_id=job.debug_id)
    log.info("job_started", status=job.status.value, admitted=len(decision.admitted))
    return {"job_id": job.job_id, "status": job.status.value,
            "build_version": k.store.predicted_version(project_id),
            "queue_position": k.capacity.position(job.job_id),
            "scheduled_for": iso(job.scheduled_for),
            "based_on": base.build_version if base else None}


async def start(request: Request) -> JSONResponse:
    k = kiln(request)
    principal = authenticate(request, k.settings.jwt_secret)
    tier = require_tier(principal)
    body = await json_object(request)
    project_id = text(body, "project_id", 200)
    goal = text(body, "goal", GOAL_MAX)
    key = validate_key(request.headers.get("idempotency-key"))
    await owned_project(k, project_id, principal.user_id)
    if key is None:
        return JSONResponse(await blocking(_start, k, project_id, principal.user_id, tier, goal),
                            status_code=201)
    fp = fingerprint(project_id, goal)
    replay = await k.idempotency.claim(principal.user_id, key, fp)
    if replay is not None:
        return JSONResponse(replay, status_code=201, headers={"Idempotent-Replayed": "true"})
    try:
        response = await blocking(_start, k, project_id, principal.user_id, tier, goal)
    except BaseException:
        await k.idempotency.release(principal.user_id, key)
        raise
    await k.idempotency.complete(principal.user_id, key, fp, response)
    return JSONResponse(response, status_code=201)


_WAITING = (Status.QUEUED.value, Status.SCHEDULED.value)


def _queue_info(k: Kiln, job_id: str) -> tuple[int | None, float | None]:
    return k.capacity.position(job_id), k.capacity.eta_seconds(job_id)


async def status(request: Request) -> Response:
    # The hot path: one HMGET of the fields shown; queue position and ETA (a scheduled job's ETA
    # is its release time) only while the job waits. Otherwise the body depends on the fields
    # alone, and a polled job's is usually rendered already.
    k = kiln(request)
    principal = authenticate(request, k.settings.jwt_secret)
    values = await k.aredis.hmget(k.keys.job(request.path_params["job_id"]), views.STATUS_KEYS)
    raw = require_owner(dict(zip(views.STATUS_FIELDS, values, strict=True))
                        if values[0] else None, principal.user_id)
    if raw.get("status") in _WAITING:
        position, eta = await blocking(_queue_info, k, raw["job_id"])
        return JSONResponse(views.job_status(raw, position, eta, k.previews))
    return Response(views.status_body(tuple(values), k.previews), media_type="application/json")


def _cancel(k: Kiln, job: Job) -> CancelResult:
    result = k.capacity.cancel(job, CANCELLED_MESSAGE)  # a build that never started: unit back
    if result.ok:  # a slot may have been freed: admit whoever waits for it
        _send_admitted(k, k.capacity.admit())
    return result


async def cancel(request: Request) -> JSONResponse:
    started = time.perf_counter()
    k = kiln(request)
    principal = authenticate(request, k.settings.jwt_secret)
    job = await owned_job(k, request.path_params["job_id"], principal.user_id)
    terminal = ApiError(409, "job_terminal", "This build has already finished")
    if job.terminal:
        raise terminal
    result = await blocking(_cancel, k, job)
    if not result.ok:  # it reached READY or FAILED while we were on our way
        raise terminal
    k.metrics.cancel_latency.observe(time.perf_counter() - started)
    bind_job_context(job_id=job.job_id, debug_id=job.debug_id)
    log.info("job_cancelled", previous=result.previous.value if result.previous else None,
             quota_refunded=result.refunded)
    return JSONResponse({"job_id": job.job_id, "status": "cancelled",
                         "message": CANCELLED_LABEL})


async def preview_viewed(request: Request) -> JSONResponse:
    k = kiln(request)
    principal = authenticate(request, k.settings.jwt_secret)
    job = await owned_job(k, request.path_params["job_id"], principal.user_id)
    if job.status != Status.READY:
        raise ApiError(409, "job_not_ready", "The build is not ready yet")
    version = job.build_version or job.job_id
    created, prompt = await blocking(_view, k, job, principal.user_id, version)
    return JSONResponse({"gate_id": created.gate_id,
                         "status": "gate_created" if created.created else "gate_already_created",
                         "prompt": prompt})


def _view(k: Kiln, job: Job, user_id: str, version: str) -> tuple[GateCreate, str]:
    """The project's gate for this build (created by the first view) and the question it asks,
    as stored on the gate."""
    created = k.gates.create(job.project_id, user_id, job.job_id, version)
    gate = k.gates.get(created.gate_id)
    return created, gate["prompt"] if gate else GATE_PROMPT


async def pipeline(_request: Request) -> JSONResponse:
    """GET /api/pipeline: every status's label and progress (no user data: no token needed)."""
    return JSONResponse(views.pipeline())
