"""The gateway's ASGI app: the forwarding routes (forward.py), `/healthz`, and, while it runs,
its entry in the gateway registry (registry.py), renewed every few seconds and removed when it
stops cleanly."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
import redis.exceptions
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from domain.keys import Keys
from domain.logs import configure_logging, get_logger
from domain.preview import this_host
from domain.settings import Settings
from web import ids
from web.gateway import answers, signing
from web.gateway.forward import METHODS, GatewayState, forward, forward_websocket
from web.gateway.registry import HEARTBEAT_S, GatewayRegistry
from web.preview.clients import Clients

log = get_logger("kiln.gateway")


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _no_route(_request: Request, _exc: Exception) -> Response:
    return answers.refusal(404, "not_found", "Not a preview path.")


async def _redis_down(_request: Request, _exc: Exception) -> Response:
    return answers.refusal(503, "redis_unavailable", "The gateway cannot read jobs now.")


async def _heartbeat(registry: GatewayRegistry, host: str, url: str) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_S)
        try:
            await registry.register(host, url)
        except redis.exceptions.RedisError as exc:  # the next beat tries again
            log.warning("gateway.heartbeat_failed", error=type(exc).__name__)


def create_gateway_app(settings: Settings, url: str) -> Starlette:
    """The gateway of this host (`this_host()`), announced as reachable at `url`."""
    signing.check_secret(settings.preview_gateway_secret, "the preview gateway")
    configure_logging(settings.log_format)
    ids.register()
    host = this_host()
    aredis = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    registry = GatewayRegistry(aredis, Keys(settings.redis_prefix))
    clients = Clients()

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await registry.register(host, url)
        beat = asyncio.create_task(_heartbeat(registry, host, url))
        log.info("gateway.started", host=host, url=url)
        try:
            yield
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            with contextlib.suppress(redis.exceptions.RedisError):
                await registry.unregister(host, url)
            await clients.aclose()
            await aredis.aclose()
            log.info("gateway.stopped", host=host)

    path = signing.PREFIX + "{job_id:id}/{path:path}"
    app = Starlette(routes=[Route("/healthz", healthz),
                            Route(path, forward, methods=METHODS),
                            WebSocketRoute(path, forward_websocket)],
                    exception_handlers={404: _no_route, 405: _no_route,
                                        redis.exceptions.ConnectionError: _redis_down,
                                        redis.exceptions.TimeoutError: _redis_down},
                    lifespan=lifespan)
    app.state.gateway = GatewayState(aredis, Keys(settings.redis_prefix), host, clients,
                                     settings.preview_max_body_bytes,
                                     settings.preview_gateway_secret)
    return app
