"""The gateway's routes: `/preview/<job_id>/<path>` for HTTP (any method) and WebSockets.

Each request must carry the web tier's signature over its method, job id and the exact path
and query it was sent to (signing.py), else 403. The upstream is the one recorded on the job
(READY, host-bound, `preview_host` this host): never an address from the request. Then the
web tier's forwarding code (web/preview/http.py, websocket.py) forwards it; what the web tier
rewrites on the way back (redirects, cookies under the prefix) it rewrites itself, once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx
import redis.asyncio as aioredis
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from domain.keys import Keys
from domain.logs import get_logger
from domain.preview import HOST_FIELD, UPSTREAM_FIELD, Upstream
from domain.status import Status
from web.gateway import answers, signing
from web.preview import headers, pages
from web.preview.clients import Clients
from web.preview.gate import forward_path
from web.preview.http import ProxyResponse
from web.preview.targets import Target
from web.preview.websocket import CONNECT_ERRORS, open_upstream, relay

log = get_logger("kiln.gateway")
METHODS = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]
# Set by the web tier for the app, or by the clients here; the signature stays here.
_NOT_PASSED = frozenset({"host", signing.HEADER})
_GATEWAY_OWN = frozenset({answers.ERROR_HEADER})
_WEBSOCKET_OWN = frozenset({"sec-websocket-key", "sec-websocket-version",
                            "sec-websocket-extensions", "sec-websocket-protocol"})


@dataclass
class GatewayState:
    aredis: aioredis.Redis
    keys: Keys
    here: str  # this host's name, as its sandboxes record it
    clients: Clients
    max_body: int
    secret: str = field(repr=False)


class _GatewayResponse(ProxyResponse):
    """The app's response as it is (minus hop-by-hop headers); the gateway's own answers
    marked as such (answers.py)."""

    def answer(self, page: pages.Page, **values: str) -> Response:
        return answers.page_answer(page)  # the web tier renders the page for its visitor

    def response_headers(self, upstream: httpx.Response) -> list[tuple[bytes, bytes]]:
        # The app cannot pass itself off as the gateway (the web tier would show a Kiln page).
        return headers.passed_back(upstream.headers.raw, _GATEWAY_OWN)


def _raw_target(conn: HTTPConnection) -> str:
    raw = conn.scope.get("raw_path") or conn.url.path.encode()
    query = conn.scope.get("query_string", b"")
    return (raw + (b"?" + query if query else b"")).decode("latin-1")


async def _own_target(g: GatewayState, job_id: str) -> Target | None:
    """The job's upstream, if it is a READY build's on this host."""
    status, raw, host = await g.aredis.hmget(g.keys.job(job_id),
                                             ("status", UPSTREAM_FIELD, HOST_FIELD))
    if status != Status.READY.value:
        return None
    upstream = Upstream.parse(raw)
    if upstream is None or not upstream.host_bound or host != g.here:
        return None
    return Target(upstream)


async def _checked(conn: HTTPConnection, method: str) -> tuple[Target, str] | Response:
    """The target and the path with query to ask the app for, or the refusal."""
    g: GatewayState = conn.app.state.gateway
    job_id = conn.path_params["job_id"]
    why = signing.verify(g.secret, conn.headers.get(signing.HEADER), method, job_id,
                         _raw_target(conn), time.time())
    if why is not None:
        log.warning("gateway.refused", reason=why, job_id=job_id)
        return answers.refusal(403, answers.BAD_SIGNATURE, f"Forbidden: {why}.")
    rest = forward_path(conn.scope.get("raw_path") or conn.url.path.encode(), job_id)
    if rest is None:
        return answers.refusal(404, "not_found", "Not a preview path.")
    target = await _own_target(g, job_id)
    if target is None:
        log.warning("gateway.not_here", job_id=job_id)
        return answers.refusal(403, answers.NOT_HERE,
                               "This host serves no preview of that job.")
    query = conn.scope.get("query_string", b"").decode("latin-1")
    return target, f"{rest}?{query}" if query else rest


async def forward(request: Request) -> Response:
    checked = await _checked(request, request.method)
    if isinstance(checked, Response):
        return checked
    target, path_query = checked
    g: GatewayState = request.app.state.gateway

    async def app_refused() -> pages.Refusal:
        return answers.APP_REFUSED, {}

    return _GatewayResponse(request, target, path_query,
                            headers.passed_through(request.scope["headers"], _NOT_PASSED),
                            "/", g.clients, g.max_body, app_refused)


async def _deny(websocket: WebSocket, response: Response) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(response)
    else:
        await websocket.close(code=1008)


async def forward_websocket(websocket: WebSocket) -> None:
    checked = await _checked(websocket, signing.WEBSOCKET)
    if isinstance(checked, Response):
        return await _deny(websocket, checked)
    target, path_query = checked
    g: GatewayState = websocket.app.state.gateway
    protocols = [s.strip() for s in websocket.headers.get("sec-websocket-protocol", "").split(",")
                 if s.strip()]
    upstream_headers = headers.passed_through(websocket.scope["headers"],
                                              _NOT_PASSED | _WEBSOCKET_OWN)
    async with g.clients.lease(target) as lease:
        try:
            upstream = await open_upstream(target, path_query, upstream_headers, protocols,
                                           lease.unix_address)
        except CONNECT_ERRORS as exc:
            log.info("gateway.websocket_refused", error=type(exc).__name__)
            return await _deny(websocket, answers.page_answer(answers.APP_REFUSED))
        await websocket.accept(subprotocol=upstream.subprotocol)
        await relay(websocket, upstream)
