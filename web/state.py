"""What every route needs, built once per app by `create_app` and found on `app.state.kiln`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import redis.asyncio as aioredis
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from domain.clock import Clock
from domain.gate_store import GateStore
from domain.ids import is_id
from domain.job import Job
from domain.keys import Keys
from domain.logs import bind_job_context
from domain.settings import Settings
from domain.store import JobStore
from web.errors import not_found
from web.preview.origins import PreviewOrigin

if TYPE_CHECKING:  # these modules import this one
    from domain.capacity import Capacity
    from web.hub import StreamHub
    from web.idempotency import Idempotency
    from web.metrics import Metrics

T = TypeVar("T")


@dataclass
class Kiln:
    settings: Settings
    store: JobStore  # synchronous (redis-py): call through `blocking`
    capacity: Capacity  # synchronous too
    gates: GateStore
    broker: Any  # a Dramatiq broker that only enqueues
    clock: Clock
    keys: Keys
    aredis: aioredis.Redis  # the async client for hot paths (status, events)
    hub: StreamHub
    metrics: Metrics
    idempotency: Idempotency
    sse_ping_s: float = 15.0
    previews: PreviewOrigin = PreviewOrigin()  # where previews are served (docs/previews.md)


def kiln(request: Request) -> Kiln:
    return request.app.state.kiln


async def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a synchronous Redis call (JobStore, Capacity, GateStore) off the event loop."""
    return await run_in_threadpool(fn, *args, **kwargs)


def require_owner(raw: dict[str, str] | None, user_id: str) -> dict[str, str]:
    """The job's hash, if it is this user's: another user's job is exactly as missing as a
    missing one."""
    if not raw or raw.get("user_id") != user_id:
        raise not_found("Job not found")
    bind_job_context(job_id=raw.get("job_id"), debug_id=raw.get("debug_id"))  # request's logs
    return raw


async def owned_raw(k: Kiln, job_id: str, user_id: str) -> dict[str, str]:
    """The job's Redis hash, if it is this user's (one HGETALL: the status hot path)."""
    return require_owner(await k.aredis.hgetall(k.keys.job(job_id)), user_id)


async def owned_job(k: Kiln, job_id: str, user_id: str) -> Job:
    return Job.from_redis(await owned_raw(k, job_id, user_id))


async def owned_project(k: Kiln, project_id: str, user_id: str) -> dict[str, Any]:
    if not is_id(project_id):  # a start's body: malformed is as missing, and not a key name
        raise not_found("Project not found")
    project = await blocking(k.store.get_project, project_id)
    if project is None or project.get("user_id") != user_id:
        raise not_found("Project not found")
    return project
