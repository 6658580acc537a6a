"""The status benchmark's baseline: a bare Starlette route that does one HGETALL and returns
it as JSON (`uvicorn bin.support.bench.bare_app:app`)."""

from __future__ import annotations

import os

import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from domain.keys import Keys

_redis = aioredis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
                                 decode_responses=True)
_KEYS = Keys()  # the same key as the status route reads


async def status(request: Request) -> JSONResponse:
    return JSONResponse(await _redis.hgetall(_KEYS.job(request.path_params["job_id"])))


async def healthz(_request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


app = Starlette(routes=[Route("/api/generation/{job_id}/status", status),
                        Route("/healthz", healthz)])
