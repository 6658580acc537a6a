"""Liveness, readiness (Redis reachable) and the build page with its files."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from web.errors import error_response
from web.state import kiln

STATIC = Path(__file__).resolve().parent.parent / "static"
_FALLBACK = ("<!doctype html><title>Kiln</title><p>Kiln API. The schema is at "
             "<a href=\"/openapi.json\">/openapi.json</a>.</p>")
JAVASCRIPT = "text/javascript; charset=utf-8"


class StaticAssets(StaticFiles):
    """The build page's files (web/static, mounted at /static). Its ES modules always go out as
    JavaScript: a browser refuses a module script of any other type, and the type guessed from
    the host's mime.types is not guaranteed (some hosts map `.js` to `text/plain`). Every file
    is revalidated before use (a 304 when unchanged), so that after an upgrade a browser never
    runs new modules next to old cached ones."""

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result,
                      scope: Scope, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["cache-control"] = "no-cache"
        if isinstance(response, FileResponse) and str(full_path).endswith(".js"):
            response.headers["content-type"] = JAVASCRIPT
        return response


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
