"""Request body parsing: a JSON object with typed fields, or a 422 naming what is wrong."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, TypeVar

from starlette.requests import Request

from web.errors import ApiError, invalid

E = TypeVar("E", bound=StrEnum)

GOAL_MAX = 4000
NAME_MAX = 200
MAX_BODY = 64 * 1024


async def _read(request: Request) -> bytes:
    # Our own cap (not Starlette's) so the 413 is JSON like every other error.
    too_large = ApiError(413, "payload_too_large", f"Request body over {MAX_BODY} bytes")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def json_object(request: Request) -> dict[str, Any]:
    raw = await _read(request)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):  # deep nesting is bad input too
        raise invalid("Request body must be valid JSON") from None
    if not isinstance(body, dict):
        raise invalid("Request body must be a JSON object")
    return body


def text(body: dict[str, Any], name: str, max_len: int) -> str:
    """A required, non-blank string field of at most `max_len` characters."""
    value = body.get(name)
    if name not in body:
        raise invalid(f"'{name}' is required")
    if not isinstance(value, str):
        raise invalid(f"'{name}' must be a string")
    if not value.strip():
        raise invalid(f"'{name}' must not be empty")
    if len(value) > max_len:
        raise invalid(f"'{name}' must be at most {max_len} characters")
    try:
        value.encode("utf-8")  # lone surrogates are valid JSON but not storable text
    except UnicodeEncodeError:
        raise invalid(f"'{name}' must be valid Unicode text") from None
    return value


def choice(body: dict[str, Any], name: str, enum: type[E]) -> E:
    value = body.get(name)
    if name not in body:
        raise invalid(f"'{name}' is required")
    allowed = [e.value for e in enum]
    if not isinstance(value, str) or value not in allowed:
        raise invalid(f"'{name}' must be one of: {', '.join(allowed)}")
    return enum(value)
