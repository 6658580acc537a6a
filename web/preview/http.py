"""Forward one HTTP request to the app and stream its answer back (httpx; nothing buffered).

The request body streams to the app as it arrives, up to a limit; the app's body streams to
the caller as the app writes it (Server-Sent Events, large downloads), undecoded. The work is
the response's own ASGI call, so the upstream connection is released on every way out: done,
the caller gone (the app's stream is cancelled at once), an error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import httpx
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from domain.logs import get_logger
from web.gateway import answers
from web.preview import headers, pages
from web.preview.clients import Clients
from web.preview.targets import Target

log = get_logger("kiln.preview")
_CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class BodyTooLarge(Exception):
    pass


async def _limited(request: Request, limit: int) -> AsyncIterator[bytes]:
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise BodyTooLarge()
        if chunk:
            yield chunk


def _has_body(request: Request) -> bool:
    return "transfer-encoding" in request.headers or \
        request.headers.get("content-length", "0") not in ("", "0")


class ProxyResponse(Response):
    """The app's response to `request`, forwarded to `target` with `upstream_headers`."""

    def __init__(self, request: Request, target: Target, path_query: str,
                 upstream_headers: list[tuple[str, str]], prefix: str, clients: Clients,
                 max_body: int,
                 when_unreachable: Callable[[], Awaitable[tuple[pages.Page, dict[str, str]]]]
                 ) -> None:
        self.request = request
        self.target = target
        self.path_query = path_query
        self.upstream_headers = upstream_headers
        self.prefix = prefix
        self.clients = clients
        self.max_body = max_body
        self.when_unreachable = when_unreachable
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = self.request
        body = _limited(request, self.max_body) if _has_body(request) else None
        gateway = self.target.gateway
        async with self.clients.lease(self.target) as lease:
            client = lease.client
            outgoing = client.build_request(request.method, self.target.url(self.path_query),
                                            headers=self.upstream_headers, content=body)
            if gateway is not None:  # signed as it goes on the wire
                name, value = gateway.signature(request.method,
                                                outgoing.url.raw_path.decode("ascii"))
                outgoing.headers[name] = value
            try:
                upstream = await client.send(outgoing, stream=True)
            except ClientDisconnect:
                return  # the caller went away while sending its body
            except BodyTooLarge:
                return await self.answer(pages.TOO_LARGE)(scope, receive, send)
            except _CONNECT_ERRORS:
                # A gateway that does not answer: its host is out of reach, whatever the app.
                page, values = (pages.ELSEWHERE, {}) if gateway else await self.when_unreachable()
                return await self.answer(page, **values)(scope, receive, send)
            except httpx.TimeoutException:
                return await self.answer(pages.TIMEOUT)(scope, receive, send)
            except httpx.HTTPError as exc:  # the app broke the protocol or hung up
                log.info("preview.upstream_error", error=type(exc).__name__)
                return await self.answer(pages.UNAVAILABLE)(scope, receive, send)
            try:
                code = upstream.headers.get(answers.ERROR_HEADER) if gateway else None
                if code:  # the gateway's own answer, not the app's
                    page, values = await answers.page_for(code, self.when_unreachable)
                    return await self.answer(page, **values)(scope, receive, send)
                await self._relay(upstream, receive, send)
            finally:
                await upstream.aclose()

    def answer(self, page: pages.Page, **values: str) -> Response:
        """What the caller gets instead of the app's response."""
        return pages.render(page, self.request.headers, **values)

    def response_headers(self, upstream: httpx.Response) -> list[tuple[bytes, bytes]]:
        return headers.from_upstream(upstream.headers.raw, prefix=self.prefix,
                                     upstream_base=self.target.app_base)

    async def _relay(self, upstream: httpx.Response, receive: Receive, send: Send) -> None:
        raw = self.response_headers(upstream)
        try:
            await send({"type": "http.response.start", "status": upstream.status_code,
                        "headers": raw})
        except OSError:
            return  # the caller went away (ASGI 2.4: send raises)
        async with anyio.create_task_group() as group:
            group.start_soon(_cancel_on_disconnect, receive, group.cancel_scope)
            try:
                async for chunk in upstream.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            except OSError:
                pass  # the caller went away
            except httpx.HTTPError as exc:
                # Mid-body: too late for an error page; ending here drops the connection,
                # which tells the caller the body is incomplete.
                log.info("preview.stream_broken", error=type(exc).__name__)
            finally:
                group.cancel_scope.cancel()


async def _cancel_on_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            scope.cancel()
            return
