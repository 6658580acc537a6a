"""POST /api/generation/{job_id}/preview-link: a signed, expiring link to a READY build's
preview, for a browser (docs/previews.md). The owner's bearer token is what asks for it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from domain.clock import iso
from domain.status import Status
from web.auth import authenticate
from web.errors import ApiError
from web.preview.access import LINK, LINK_PARAM, Signer
from web.state import kiln, owned_raw


async def preview_link(request: Request) -> JSONResponse:
    k = kiln(request)
    principal = authenticate(request, k.settings.jwt_secret)
    raw = await owned_raw(k, request.path_params["job_id"], principal.user_id)
    if raw.get("status") != Status.READY.value:
        raise ApiError(409, "job_not_ready", "The build is not ready: it has no preview yet")
    stable = k.previews.url(raw["job_id"])
    if stable is None:
        raise ApiError(409, "previews_not_configured",
                       "This server does not serve previews (KILN_PREVIEW_ORIGIN is not set)")
    expires = int(k.clock.now()) + k.settings.preview_link_ttl_s
    token = Signer(k.settings.jwt_secret).mint(LINK, raw["job_id"], expires)
    return JSONResponse({"url": f"{stable}?{LINK_PARAM}={token}", "preview_url": stable,
                         "expires_at": iso(expires)})
