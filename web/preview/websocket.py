"""Forward a WebSocket: the caller's handshake is answered only once the app accepted Kiln's
(with the app's chosen subprotocol), then messages flow both ways until either side closes,
and the close code goes to the other side. The client is the `websockets` library's.
"""

from __future__ import annotations

import contextlib
from typing import Any

import anyio
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect, unix_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.uri import parse_uri

from domain.logs import get_logger
from web.gateway import signing
from web.preview.targets import Target

log = get_logger("kiln.preview")
MAX_MESSAGE = 16 * 1024 * 1024  # uvicorn's default for the caller's side too
OPEN_TIMEOUT_S = 5.0
CONNECT_ERRORS = (OSError, TimeoutError, InvalidHandshake, InvalidURI)


async def open_upstream(target: Target, path_query: str, upstream_headers: list[tuple[str, str]],
                        subprotocols: list[str], unix_address: str | None = None
                        ) -> ClientConnection:
    """Connect to the app's WebSocket (a unix target at `unix_address`, clients.py); raises
    one of CONNECT_ERRORS when it will not."""
    options: dict[str, Any] = {
        "additional_headers": upstream_headers, "subprotocols": subprotocols or None,
        "open_timeout": OPEN_TIMEOUT_S, "max_size": MAX_MESSAGE, "compression": None,
        "user_agent_header": None,
        # The caller and the app keep their own connection alive; Kiln only relays.
        "ping_interval": None,
    }
    url = target.url(path_query, websocket=True)
    if target.gateway is not None:  # signed as it goes on the wire
        options["additional_headers"] = [
            *upstream_headers,
            target.gateway.signature(signing.WEBSOCKET, parse_uri(url).resource_name)]
    if target.unix_path:
        return await unix_connect(unix_address or target.unix_path, uri=url, **options)
    return await connect(url, proxy=None, **options)


async def relay(websocket: WebSocket, upstream: ClientConnection) -> None:
    """Both directions until one side closes; then close the other with its code."""
    async with upstream, anyio.create_task_group() as group:
        group.start_soon(_to_app, websocket, upstream, group.cancel_scope)
        group.start_soon(_to_caller, websocket, upstream, group.cancel_scope)


async def _to_app(websocket: WebSocket, upstream: ClientConnection,
                  scope: anyio.CancelScope) -> None:
    code = 1000
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                code = message.get("code", 1000)
                break
            if message.get("text") is not None:
                await upstream.send(message["text"])
            elif message.get("bytes") is not None:
                await upstream.send(message["bytes"])
    except (ConnectionClosed, WebSocketDisconnect, OSError):
        pass
    finally:
        scope.cancel()
    with anyio.CancelScope(shield=True):
        await upstream.close(code=code if 1000 <= code < 5000 and code not in (1005, 1006)
                             else 1000)


async def _to_caller(websocket: WebSocket, upstream: ClientConnection,
                     scope: anyio.CancelScope) -> None:
    try:
        async for message in upstream:
            if isinstance(message, str):
                await websocket.send_text(message)
            else:
                await websocket.send_bytes(message)
    except ConnectionClosed:
        pass
    except (WebSocketDisconnect, OSError, RuntimeError):
        scope.cancel()
        return
    code = upstream.close_code if upstream.close_code not in (None, 1005, 1006) else 1000
    with anyio.CancelScope(shield=True), contextlib.suppress(RuntimeError, OSError):
        await websocket.close(code=code, reason=upstream.close_reason or "")  # unless gone
    scope.cancel()
