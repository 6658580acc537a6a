"""GET /api/usage: the caller's tier, daily quota and what is running, queued or scheduled."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from domain.clock import iso, next_utc_midnight
from web.auth import authenticate
from web.state import blocking, kiln


def _times(usage: dict[str, Any]) -> dict[str, Any]:
    value = usage.get("resets_at")
    if isinstance(value, int | float):
        usage["resets_at"] = iso(float(value))
    return usage


async def usage(request: Request) -> JSONResponse:
    k = kiln(request)
    principal = authenticate(request, k.settings.jwt_secret)
    if principal.tier is None:  # no subscription: nothing may start, nothing is used
        body: dict[str, Any] = {"tier": None, "jobs_used": 0, "jobs_remaining": 0,
                                "resets_at": next_utc_midnight(k.clock.now()), "running": 0,
                                "queued": 0, "scheduled": 0}
    else:
        body = dict(await blocking(k.capacity.usage, principal.user_id, principal.tier.value))
    return JSONResponse(_times(body))
