"""The Kiln web app: `create_app(settings, ...)` and, for `uvicorn web.app:app`, a module-level
`app` built from the environment on first access."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from domain.clock import Clock
from domain.gate_store import GateStore
from domain.logs import configure_logging, get_logger, writes_json
from domain.messages import sender_broker
from domain.redis_client import connect
from domain.settings import ConfigError, Settings
from domain.store import JobStore
from web import accesslog, ids, openapi
from web.auth import check_secret
from web.errors import EXCEPTION_HANDLERS
from web.gateway import signing as gateway_signing
from web.hub import StreamHub
from web.idempotency import Idempotency
from web.metrics import Metrics, metrics
from web.preview.app import create_preview_app
from web.preview.clients import Clients
from web.preview.origins import OriginSplit, PreviewOrigin
from web.routes import gates, generation, health, previews, projects, usage, versions
from web.sse import job_events
from web.state import Kiln

log = get_logger("kiln.web")
REDIS_POOL = 1024
SSE_BLOCK_MS = 5000

def routes() -> list[BaseRoute]:
    """The routing table: every route of DESIGN.md's HTTP API, in one place. Every id in a
    path is `{name:id}` (web/ids.py): nothing else reaches a route."""
    ids.register()
    table: list[BaseRoute] = [
        # Status first: clients poll it most, and routes are matched in order.
        Route("/api/generation/{job_id:id}/status", generation.status, methods=["GET"]),
        Route("/", health.index, methods=["GET"]),
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi.openapi, methods=["GET"]),
        Route("/api/projects", projects.create_project, methods=["POST"]),
        Route("/api/projects", projects.list_projects, methods=["GET"]),
        Route("/api/projects/{project_id:id}", projects.get_project, methods=["GET"]),
        Route("/api/projects/{project_id:id}/gates", gates.list_gates, methods=["GET"]),
        Route("/api/projects/{project_id:id}/versions", versions.list_versions, methods=["GET"]),
        Route("/api/gates/{gate_id:id}/resolve", gates.resolve_gate, methods=["POST"]),
        Route("/api/generation/start", generation.start, methods=["POST"]),
        Route("/api/generation/{job_id:id}/events", job_events, methods=["GET"]),
        Route("/api/generation/{job_id:id}/cancel", generation.cancel, methods=["POST"]),
        Route("/api/generation/{job_id:id}/preview-viewed", generation.preview_viewed,
              methods=["POST"]),
        Route("/api/generation/{job_id:id}/preview-link", previews.preview_link,
              methods=["POST"]),
        Route("/api/generation/{job_id:id}/files", versions.list_files, methods=["GET"]),
        Route("/api/generation/{job_id:id}/files.zip", versions.files_zip, methods=["GET"]),
        Route("/api/usage", usage.usage, methods=["GET"]),
        Route("/api/pipeline", generation.pipeline, methods=["GET"]),
    ]
    if health.STATIC.is_dir():  # the build page's assets (web/static)
        table.append(Mount("/static", health.StaticAssets(directory=health.STATIC),
                           name="static"))
    return table


class _KilnApp(Starlette):
    previews: tuple[ASGIApp, PreviewOrigin] | None = None  # the preview app, and its origin

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        if self.previews is not None:  # the preview origin's requests never reach Kiln's routes
            stack = OriginSplit(stack, *self.previews)
        # Outermost, so that a 500 from Starlette's error middleware has its line too.
        return accesslog.AccessLog(stack) if writes_json() else stack


def create_app(settings: Settings | None = None, *, store: JobStore | None = None,
               capacity: Any = None, clock: Clock | None = None, broker: Any = None,
               sse_ping_s: float = 15.0) -> Starlette:
    settings = settings or Settings.from_env()
    check_secret(settings.jwt_secret)  # before anything connects or listens
    if settings.preview_gateway_secret:  # unset: no other host's previews are served
        gateway_signing.check_secret(settings.preview_gateway_secret, "the web app")
    origin = PreviewOrigin.parse(settings.preview_origin)
    configure_logging(settings.log_format)
    accesslog.install()
    clock = clock or (store.clock if store else Clock())
    store = store or JobStore(connect(settings.redis_url), prefix=settings.redis_prefix,
                              clock=clock)
    if capacity is None:
        from domain.capacity import Capacity

        capacity = Capacity(store, clock=clock, global_cap=settings.global_sandbox_cap,
                            queue_cap=settings.queue_cap)
    # redis-py's async pool caps at 100 connections by default and then raises: more than 100
    # requests in flight would fail. A larger cap (past it: 503) keeps the cheap non-blocking
    # pool on the status hot path.
    aredis = aioredis.Redis.from_url(settings.redis_url, decode_responses=True,
                                     max_connections=REDIS_POOL)
    # The SSE reader blocks one connection of its own; keep it off the request pool.
    # A socket timeout past the XREAD block, so a dead connection cannot hang the reader.
    hub = StreamHub(aioredis.Redis.from_url(settings.redis_url, decode_responses=True,
                                            socket_timeout=SSE_BLOCK_MS / 1000 + 10),
                    store.keys, block_ms=SSE_BLOCK_MS)
    broker = broker or sender_broker(settings.redis_url, settings.broker_db)
    k = Kiln(settings=settings, store=store, capacity=capacity,
             gates=GateStore(store.redis, prefix=store.prefix, clock=clock),
             broker=broker, clock=clock, keys=store.keys,
             aredis=aredis, hub=hub, metrics=Metrics(), idempotency=Idempotency(aredis,
                                                                                store.keys),
             sse_ping_s=sse_ping_s, previews=origin)
    k.metrics.bind(k)
    clients = Clients()  # upstream connections of previews

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # What exists once the server starts (modules, the app, its clients) lives as long as
        # the process: frozen, the full collections that requests in flight keep triggering
        # stop walking it each time (they cost ~4x as much, and a longer pause, without this).
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
        await hub.close()
        await clients.aclose()
        await aredis.aclose()

    app = _KilnApp(routes=routes(), exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan)
    app.state.kiln = k
    if origin.enabled:
        app.previews = (create_preview_app(k, origin, clients), origin)
    else:
        log.warning("previews_not_served", hint="set KILN_PREVIEW_ORIGIN (docs/previews.md)")
    return app


_app: Starlette | None = None


def __getattr__(name: str) -> Starlette:
    # `uvicorn web.app:app` reads this; importing the module alone builds nothing.
    global _app
    if name != "app":
        raise AttributeError(name)
    if _app is None:
        try:
            _app = create_app()
        except ConfigError as exc:  # uvicorn exits with this message, not a traceback
            raise SystemExit(f"kiln: {exc}") from None
    return _app
