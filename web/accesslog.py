"""The access line: one per request, the line uvicorn would log, with the request's job context.

With JSON lines (production) Kiln writes it itself (`AccessLog`, outermost around the app) and
uvicorn's own access logger stays quiet: going through stdlib logging (a LogRecord, its
handlers, structlog's formatter) cost several times the rendering, a large share of a status
request. It keeps uvicorn's text, its logger name and level, and its switch: the line is
written when `uvicorn.access` is enabled for INFO (`--log-level`).

Tokens stay out of it either way: the events route accepts `?access_token=` (a browser's
EventSource cannot send headers), and the line has the full path with its query string. The
value of every query parameter whose *decoded* name looks secret (`access%5Ftoken`,
`Access_Token`, `api_key`, ... as `is_secret_env` decides for environment variables) is
replaced, each time it appears: the app decodes names before it reads them, so a scrubber
that matched the literal text let `?access%5Ftoken=<jwt>` through.
"""

from __future__ import annotations

import logging
from urllib.parse import quote, unquote_plus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.logs import write_line, writes_json
from domain.settings import is_secret_env

LOGGER = "uvicorn.access"
REDACTED = "[redacted]"


def scrub_query(query: str) -> str:
    """The query string with the value of each secret-named parameter replaced. Split as
    Starlette splits it (`&` only); names compared decoded, as the app reads them."""
    parts = query.split("&")
    changed = False
    for i, part in enumerate(parts):
        name, eq, value = part.partition("=")
        if eq and value and is_secret_env(unquote_plus(name)):
            parts[i] = f"{name}={REDACTED}"
            changed = True
    return "&".join(parts) if changed else query


def _scrub_target(target: str) -> str:
    """A request target (`path?query`) with its query scrubbed."""
    path, mark, query = target.partition("?")
    return f"{path}?{scrub_query(query)}" if mark else target


class _ScrubTokens(logging.Filter):
    """uvicorn's own access line (console lines, or a server other than the JSON one): its
    arguments are (client, method, path with query, HTTP version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(isinstance(a, str) and "?" in a for a in args):
            record.args = tuple(_scrub_target(a) if isinstance(a, str) else a for a in args)
        return True


_FILTER = _ScrubTokens()


def install() -> None:
    """Idempotent: the token filter on uvicorn's access logger; with JSON lines, that logger
    also loses its handlers and stops propagating, which is how uvicorn is told not to log
    (its protocols check `hasHandlers()`), since `AccessLog` writes the line instead."""
    logger = logging.getLogger(LOGGER)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    if writes_json():
        logger.handlers.clear()
        logger.propagate = False


def line(scope: Scope, status: int) -> str:
    """uvicorn's access text: `client - "METHOD path?query HTTP/version" status`."""
    client = scope.get("client")
    address = f"{client[0]}:{client[1]:d}" if client else ""
    path = quote(scope["path"])
    if scope["query_string"]:
        path = f"{path}?{scrub_query(scope['query_string'].decode('ascii'))}"
    return f'{address} - "{scope["method"]} {path} HTTP/{scope["http_version"]}" {status:d}'


class AccessLog:
    """Writes the access line when the response starts (as uvicorn does), in the request's
    context: the job fields the route bound (user_id, job_id, debug_id) are on it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.logger = logging.getLogger(LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                write_line(LOGGER, line(scope, message["status"]))
            await send(message)

        await self.app(scope, receive, send_logged)
