"""The preview routes, on the preview origin only (origins.py): `/preview/<job_id>/<path>` for
HTTP (any method) and WebSockets, and the landing of a signed link.

Each request: the path is checked (no dot segments, no encoded slashes: every layer must agree
on which job a path names), the caller is allowed (owner's bearer token, or the job's preview
cookie) or gets NOT_FOUND, the job is read (one HMGET), and a READY job with a live preview is
forwarded; otherwise a page says why (building, failed, expired).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

import jwt
import redis.exceptions
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from domain.logs import get_logger
from domain.preview import HOST_FIELD, UPSTREAM_FIELD, this_host
from domain.status import STAGE_LABELS, Status
from web import ids
from web.auth import ALGORITHM, decode
from web.errors import ApiError
from web.preview import headers, pages
from web.preview.access import COOKIE, LINK, LINK_PARAM, SESSION, Signer, session_cookie
from web.preview.clients import Clients
from web.preview.http import ProxyResponse
from web.preview.origins import PREFIX, PreviewOrigin
from web.preview.targets import Target, Unreachable, resolve
from web.preview.websocket import CONNECT_ERRORS, open_upstream, relay
from web.state import Kiln

log = get_logger("kiln.preview")
_FIELDS = ("user_id", "status", UPSTREAM_FIELD, HOST_FIELD, "sandbox_expires_at", "sandbox_id")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_METHODS = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]


@dataclass
class Previews:
    kiln: Kiln
    origin: PreviewOrigin
    signer: Signer
    clients: Clients
    here: str  # this host's name: host-bound upstreams recorded under it are reachable


@dataclass(frozen=True)
class Allowed:
    target: Target
    drop_authorization: bool  # the caller's Authorization is Kiln's token: it stays here
    sandbox_id: str


def _previews(conn: HTTPConnection) -> Previews:
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


async def _allow(p: Previews, conn: HTTPConnection, job_id: str, *, unsafe: bool
                 ) -> Allowed | tuple[pages.Page, dict[str, str]]:
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
        return pages.EXPIRED, {}
    try:
        target = resolve(job[UPSTREAM_FIELD], job[HOST_FIELD], p.here)
    except Unreachable:
        return pages.ELSEWHERE, {}
    if target is None:  # READY without a preview Kiln can reach (an older record)
        return pages.EXPIRED, {}
    return Allowed(target, bool(authorization) and _kiln_token(authorization, secret),
                   job["sandbox_id"] or "")


def _unreachable(p: Previews, sandbox_id: str):  # noqa: ANN202 (a closure for the response)
    async def page() -> pages.Page:
        """The app did not take the connection: gone with its sandbox, or not answering."""
        k = p.kiln
        alive = sandbox_id and await k.aredis.hexists(k.keys.sandboxes(), sandbox_id)
        return pages.UNAVAILABLE if alive else pages.EXPIRED

    return page


def _upstream_headers(conn: HTTPConnection, job_id: str, allowed: Allowed,
                      websocket: bool = False) -> list[tuple[str, str]]:
    client = conn.client.host if conn.client else ""
    return headers.to_upstream(conn.scope["headers"], drop_authorization=allowed.drop_authorization,
                               client_ip=client, proto=conn.url.scheme.replace("ws", "http"),
                               host=conn.headers.get("host", ""), prefix=f"{PREFIX}{job_id}/",
                               websocket=websocket)


def _path_query(conn: HTTPConnection, rest: str) -> str:
    query = headers.strip_link(conn.scope.get("query_string", b"").decode("latin-1"))
    return f"{rest}?{query}" if query else rest


def _follow_link(p: Previews, request: Request, job_id: str, rest: str) -> Response:
    """A signed link: the cookie for this job's path, then the clean URL (302-free: 303)."""
    k = p.kiln
    now = k.clock.now()
    if not p.signer.valid(LINK, job_id, request.query_params.get(LINK_PARAM), now):
        return pages.render(pages.NOT_FOUND, request.headers)
    ttl = k.settings.preview_session_ttl_s
    session = p.signer.mint(SESSION, job_id, int(now) + ttl)
    response = RedirectResponse(f"{PREFIX}{job_id}{_path_query(request, rest)}", 303,
                                headers={"Cache-Control": "no-store",
                                         "Referrer-Policy": "no-referrer"})
    response.headers.append("set-cookie",
                            session_cookie(job_id, session, ttl, p.origin, request.headers))
    return response


async def preview(request: Request) -> Response:
    p = _previews(request)
    job_id = request.path_params["job_id"]
    rest = forward_path(request.scope.get("raw_path") or request.url.path.encode(), job_id)
    if rest is None:
        return pages.render(pages.NOT_FOUND, request.headers)
    if request.method in ("GET", "HEAD") and LINK_PARAM in request.query_params:
        return _follow_link(p, request, job_id, rest)
    allowed = await _allow(p, request, job_id, unsafe=request.method not in _SAFE_METHODS)
    if not isinstance(allowed, Allowed):
        page, values = allowed
        return pages.render(page, request.headers, **values)
    length = request.headers.get("content-length", "")
    max_body = p.kiln.settings.preview_max_body_bytes
    if length.isdigit() and int(length) > max_body:
        return pages.render(pages.TOO_LARGE, request.headers)
    return ProxyResponse(request, allowed.target, _path_query(request, rest),
                         _upstream_headers(request, job_id, allowed), f"{PREFIX}{job_id}/",
                         p.clients, max_body, _unreachable(p, allowed.sandbox_id))


async def _deny(websocket: WebSocket, page: pages.Page, values: dict[str, str]) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(pages.render(page, websocket.headers, **values))
    else:
        await websocket.close(code=1008)


async def preview_websocket(websocket: WebSocket) -> None:
    p = _previews(websocket)
    job_id = websocket.path_params["job_id"]
    rest = forward_path(websocket.scope.get("raw_path") or websocket.url.path.encode(), job_id)
    if rest is None:
        return await _deny(websocket, pages.NOT_FOUND, {})
    allowed = await _allow(p, websocket, job_id, unsafe=True)
    if not isinstance(allowed, Allowed):
        return await _deny(websocket, *allowed)
    protocols = [s.strip() for s in websocket.headers.get("sec-websocket-protocol", "").split(",")
                 if s.strip()]
    async with p.clients.lease(allowed.target) as lease:
        try:
            upstream = await open_upstream(allowed.target, _path_query(websocket, rest),
                                           _upstream_headers(websocket, job_id, allowed, True),
                                           protocols, lease.unix_address)
        except CONNECT_ERRORS as exc:
            log.info("preview.websocket_refused", error=type(exc).__name__)
            return await _deny(websocket, await _unreachable(p, allowed.sandbox_id)(), {})
        await websocket.accept(subprotocol=upstream.subprotocol)
        await relay(websocket, upstream)


async def to_slash(request: Request) -> Response:
    """`/preview/<id>` -> `/preview/<id>/`: relative URLs resolve under the prefix."""
    query = request.url.query
    return RedirectResponse(f"{request.url.path}/" + (f"?{query}" if query else ""), 308)


async def _no_route(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    page = pages.NOT_HERE if status == 404 else pages.METHOD
    return pages.render(page, request.headers)


async def _redis_down(request: Request, _exc: Exception) -> Response:
    return pages.render(pages.UNAVAILABLE, request.headers)


async def _error(request: Request, exc: Exception) -> Response:
    log.error("preview.unhandled_error", error=type(exc).__name__, exc_info=exc)
    return pages.render(pages.ERROR, request.headers)


def create_preview_app(k: Kiln, origin: PreviewOrigin, clients: Clients) -> Starlette:
    ids.register()
    path = PREFIX + "{job_id:id}/{path:path}"
    app = Starlette(routes=[Route(path, preview, methods=_METHODS),
                            WebSocketRoute(path, preview_websocket),
                            Route(PREFIX + "{job_id:id}", to_slash, methods=_METHODS)],
                    exception_handlers={HTTPException: _no_route,
                                        redis.exceptions.ConnectionError: _redis_down,
                                        redis.exceptions.TimeoutError: _redis_down,
                                        Exception: _error})
    app.state.previews = Previews(k, origin, Signer(k.settings.jwt_secret), clients, this_host())
    return app

