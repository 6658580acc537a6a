"""Is there a preview to forward to, for this caller? The path is checked (no dot segments,
no encoded slashes: every layer must agree on which job a path names), the caller is allowed
(the owner's bearer token, or the job's preview cookie) or gets NOT_FOUND, the job is read
(one HMGET), and a READY job with a live preview becomes a target; otherwise the page that
says why (building, failed, out of reach); an expired or reaped one wakes up (waking.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

import jwt
from starlette.requests import HTTPConnection

from domain.preview import HOST_FIELD, UPSTREAM_FIELD
from domain.status import STAGE_LABELS, Status
from domain.wake import Wakes
from web.auth import ALGORITHM, decode
from web.errors import ApiError
from web.gateway.registry import GatewayRegistry
from web.preview import pages
from web.preview.access import COOKIE, SESSION, Signer
from web.preview.clients import Clients
from web.preview.origins import PREFIX, PreviewOrigin
from web.preview.targets import Target, Unreachable, resolve, via_gateway
from web.preview.waking import Refusal, wake
from web.state import Kiln

_FIELDS = ("user_id", "status", UPSTREAM_FIELD, HOST_FIELD, "sandbox_expires_at", "sandbox_id",
           "project_id", "tier")


@dataclass
class Previews:
    kiln: Kiln
    origin: PreviewOrigin
    signer: Signer
    clients: Clients
    here: str  # this host's name: host-bound upstreams recorded under it are reachable
    wakes: Wakes
    # Other hosts' preview gateways (None: KILN_PREVIEW_GATEWAY_SECRET unset, none used).
    gateways: GatewayRegistry | None = None
    gateway_secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class Allowed:
    target: Target
    drop_authorization: bool  # the caller's Authorization is Kiln's token: it stays here
    job_id: str
    job: dict[str, str | None]  # the fields read (_FIELDS): a wake needs them


def previews_of(conn: HTTPConnection) -> Previews:
    return conn.app.state.previews


def forward_path(raw_path: bytes, job_id: str) -> str | None:
    """The path to ask the app for ("/..."), or None for a path that plays tricks."""
    prefix = f"{PREFIX}{job_id}"
    raw = raw_path.decode("latin-1")
    if not raw.startswith(prefix + "/"):
        return None  # the id itself was percent-encoded: not a name Kiln gave out
    rest = raw[len(prefix):]
    lowered = rest.lower()
    if "%2f" in lowered or "%5c" in lowered or "%00" in lowered or "\\" in rest:
        return None
    if any(segment in (".", "..") for segment in unquote(rest).split("/")):
        return None
    return rest


def _kiln_token(value: str, secret: str) -> bool:
    """Is this Authorization header Kiln's own bearer token (expired or not)?"""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    try:
        jwt.decode(token.strip(), secret, algorithms=[ALGORITHM], options={"verify_exp": False})
    except jwt.PyJWTError:
        return False
    return True


def _bearer_user(value: str, secret: str) -> str | None:
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        return decode(token.strip(), secret).user_id
    except ApiError:
        return None


async def allow(p: Previews, conn: HTTPConnection, job_id: str, *, unsafe: bool
                 ) -> Allowed | Refusal:
    """Who may see it, and whether there is anything to see."""
    k = p.kiln
    secret = k.settings.jwt_secret
    authorization = conn.headers.get("authorization", "")
    by_cookie = p.signer.valid(SESSION, job_id, conn.cookies.get(COOKIE), k.clock.now())
    user = None if by_cookie else _bearer_user(authorization, secret)
    if not by_cookie and user is None:
        return pages.NOT_FOUND, {}
    if by_cookie and unsafe and not p.origin.is_origin(conn.headers.get("origin")):
        # A cookie rides along with requests other sites make; only the app's own pages
        # (its origin) may change things or open a WebSocket with it.
        return pages.NOT_FOUND, {}
    values = await k.aredis.hmget(k.keys.job(job_id), _FIELDS)
    job = dict(zip(_FIELDS, values, strict=True))
    if not job["status"] or (user is not None and job["user_id"] != user):
        return pages.NOT_FOUND, {}
    status = job["status"]
    if status == Status.FAILED.value:
        return pages.FAILED, {}
    if status != Status.READY.value:
        return pages.BUILDING, {"stage": STAGE_LABELS[Status(status)].rstrip(".")}
    expires = job["sandbox_expires_at"]
    if expires and float(expires) <= k.clock.now():
        return await wake(k, p.wakes, job_id, job)  # expired: a visit wakes it up
    try:
        target = resolve(job[UPSTREAM_FIELD], job[HOST_FIELD], p.here)
    except Unreachable:
        host = job[HOST_FIELD] or ""
        gateway = await p.gateways.url(host) if p.gateways else None
        if gateway is None:  # no live gateway on that host
            if not await k.aredis.exists(k.keys.host(host)):
                # The host is lost (its heartbeat lapsed): its sandbox with it. Wake the
                # preview on a host that is alive, as for a reaped one.
                return await wake(k, p.wakes, job_id, job)
            return pages.ELSEWHERE, {}
        target = via_gateway(job[UPSTREAM_FIELD], gateway, job_id, p.gateway_secret)
    if target is None:  # READY without a preview Kiln can reach (an older record)
        return await wake(k, p.wakes, job_id, job)
    return Allowed(target, bool(authorization) and _kiln_token(authorization, secret),
                   job_id, job)


def unreachable(p: Previews, allowed: Allowed) -> Callable[[], Awaitable[Refusal]]:
    async def page() -> Refusal:
        """The app did not take the connection: gone with its sandbox (reaped: wake it up),
        or not answering."""
        k = p.kiln
        sandbox_id = allowed.job["sandbox_id"]
        if sandbox_id and await k.aredis.hexists(k.keys.sandboxes(), sandbox_id):
            return pages.UNAVAILABLE, {}
        return await wake(k, p.wakes, allowed.job_id, allowed.job)

    return page


