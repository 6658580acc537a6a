"""The preview routes, on the preview origin only (origins.py): `/preview/<job_id>/<path>` for
HTTP (any method) and WebSockets, and the landing of a signed link.

Each request is checked (gate.py), then forwarded (http.py, websocket.py) or answered with
the page that says why not (pages.py).
"""

from __future__ import annotations

import redis.exceptions
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.exceptions import InvalidStatus

from domain.logs import get_logger
from domain.preview import this_host
from domain.wake import Wakes
from web import ids
from web.gateway import answers
from web.gateway.registry import GatewayRegistry
from web.preview import headers, pages
from web.preview.access import LINK, LINK_PARAM, SESSION, Signer, session_cookie
from web.preview.clients import Clients
from web.preview.gate import Allowed, Previews, allow, forward_path, previews_of, unreachable
from web.preview.http import ProxyResponse
from web.preview.origins import PREFIX, PreviewOrigin
from web.preview.websocket import CONNECT_ERRORS, open_upstream, relay
from web.state import Kiln

log = get_logger("kiln.preview")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_METHODS = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]


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
    p = previews_of(request)
    job_id = request.path_params["job_id"]
    rest = forward_path(request.scope.get("raw_path") or request.url.path.encode(), job_id)
    if rest is None:
        return pages.render(pages.NOT_FOUND, request.headers)
    if request.method in ("GET", "HEAD") and LINK_PARAM in request.query_params:
        return _follow_link(p, request, job_id, rest)
    allowed = await allow(p, request, job_id, unsafe=request.method not in _SAFE_METHODS)
    if not isinstance(allowed, Allowed):
        page, values = allowed
        return pages.render(page, request.headers, **values)
    length = request.headers.get("content-length", "")
    max_body = p.kiln.settings.preview_max_body_bytes
    if length.isdigit() and int(length) > max_body:
        return pages.render(pages.TOO_LARGE, request.headers)
    return ProxyResponse(request, allowed.target, _path_query(request, rest),
                         _upstream_headers(request, job_id, allowed), f"{PREFIX}{job_id}/",
                         p.clients, max_body, unreachable(p, allowed))


async def _deny(websocket: WebSocket, page: pages.Page, values: dict[str, str]) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(pages.render(page, websocket.headers, **values))
    else:
        await websocket.close(code=1008)


async def preview_websocket(websocket: WebSocket) -> None:
    p = previews_of(websocket)
    job_id = websocket.path_params["job_id"]
    rest = forward_path(websocket.scope.get("raw_path") or websocket.url.path.encode(), job_id)
    if rest is None:
        return await _deny(websocket, pages.NOT_FOUND, {})
    allowed = await allow(p, websocket, job_id, unsafe=True)
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
            return await _deny(websocket, *await _refused(p, allowed, exc))
        await websocket.accept(subprotocol=upstream.subprotocol)
        await relay(websocket, upstream)


async def _refused(p: Previews, allowed: Allowed, exc: BaseException) -> pages.Refusal:
    """The page for a WebSocket the app (or its host's gateway) did not take."""
    when = unreachable(p, allowed)
    if allowed.target.gateway is None:
        return await when()
    code = exc.response.headers.get(answers.ERROR_HEADER) \
        if isinstance(exc, InvalidStatus) else None
    return await answers.page_for(code, when) if code else (pages.ELSEWHERE, {})


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
    secret = k.settings.preview_gateway_secret  # checked by create_app when set
    app.state.previews = Previews(k, origin, Signer(k.settings.jwt_secret), clients, this_host(),
                                  Wakes(k.store, k.settings),
                                  GatewayRegistry(k.aredis, k.keys) if secret else None, secret)
    return app

