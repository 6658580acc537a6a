"""Every 4xx/5xx leaves as JSON `{"detail": ..., "code": ...}`; bad input is a 4xx, never a 500."""

from __future__ import annotations

from collections.abc import Mapping

import redis.exceptions
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from domain.logs import get_logger

log = get_logger("kiln.web")

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
               415: "unsupported_media_type", 422: "invalid_request", 429: "too_many_requests",
               503: "unavailable"}


class ApiError(Exception):
    """Raised by routes and helpers; rendered by `api_error_handler`."""

    def __init__(self, status: int, code: str, detail: str,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = dict(headers or {})


def not_found(what: str = "Not found") -> ApiError:
    return ApiError(404, "not_found", what)


def invalid(detail: str) -> ApiError:
    return ApiError(422, "invalid_request", detail)


def error_response(status: int, code: str, detail: str,
                   headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code=status,
                        headers=dict(headers or {}))


async def api_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.detail, exc.headers)


async def http_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own errors (unknown route, wrong method, body too large) in our shape."""
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return error_response(exc.status_code, code, detail, exc.headers)


async def redis_down_handler(_request: Request, exc: Exception) -> JSONResponse:
    log.warning("redis_unavailable", error=type(exc).__name__)
    return error_response(503, "redis_unavailable", "Storage is unavailable; try again shortly",
                          {"Retry-After": "1"})


async def server_error_handler(request: Request, exc: Exception) -> JSONResponse:
    # The traceback goes to the log (redacted there); the client gets no internals.
    log.error("unhandled_error", path=request.url.path, error=type(exc).__name__,
              exc_info=exc)
    return error_response(500, "internal_error", "Internal server error")


EXCEPTION_HANDLERS = {ApiError: api_error_handler, HTTPException: http_error_handler,
                      redis.exceptions.ConnectionError: redis_down_handler,
                      redis.exceptions.TimeoutError: redis_down_handler,
                      Exception: server_error_handler}
