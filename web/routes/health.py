"""Liveness, readiness (Redis reachable) and the build page."""

from __future__ import annotations

import asyncio
from pathlib import Path

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response

from web.errors import error_response
from web.state import kiln

STATIC = Path(__file__).resolve().parent.parent / "static"
_FALLBACK = ("<!doctype html><title>Kiln</title><p>Kiln API. The schema is at "
             "<a href=\"/openapi.json\">/openapi.json</a>.</p>")


async def healthz(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    try:
        await asyncio.wait_for(kiln(request).aredis.ping(), timeout=2.0)
    except (RedisError, OSError, TimeoutError):
        return error_response(503, "redis_unavailable", "Redis is not reachable")
    return JSONResponse({"status": "ready"})


async def index(_request: Request) -> Response:
    page = STATIC / "index.html"
    if page.is_file():
        return FileResponse(page, media_type="text/html")
    return HTMLResponse(_FALLBACK)
