"""Mapping the E2B SDK's errors to Kiln's: gone, transient (retry the stage) or permanent.

Note from the SDK: `AuthenticationException` and `ServiceBusyException` are not
`SandboxException`s, and control-plane timeouts surface as raw `httpx` errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import e2b
import httpx

from domain.errors import KilnError, PermanentError, SandboxGone, TransientError

_GONE = (e2b.SandboxNotFoundException, e2b.exceptions.SandboxNotRunningException)
_TRANSIENT = (e2b.ServiceBusyException, e2b.RateLimitException, e2b.TimeoutException,
              httpx.TimeoutException, httpx.TransportError, ConnectionError)
_PERMANENT = (e2b.AuthenticationException, e2b.InvalidArgumentException,
              e2b.NotEnoughSpaceException, e2b.TemplateException)


def translate(exc: BaseException, what: str) -> KilnError | None:
    """Kiln's error for an SDK error, or None when it is not the SDK's (let it propagate)."""
    name = type(exc).__name__
    if isinstance(exc, _GONE):
        return SandboxGone(f"e2b sandbox gone ({what}): {name}")
    if isinstance(exc, e2b.NotFoundException):
        return None  # a missing file: handled by the caller as FileNotFoundError
    if isinstance(exc, _PERMANENT):
        return PermanentError(f"e2b refused {what}: {name}")
    if isinstance(exc, _TRANSIENT):
        return TransientError(f"e2b unavailable ({what}): {name}")
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        cls = TransientError if status >= 500 or status == 429 else PermanentError
        return cls(f"e2b answered HTTP {status} ({what})")
    if isinstance(exc, e2b.SandboxException):
        return TransientError(f"e2b error ({what}): {name}")
    return None


@contextmanager
def mapped(what: str) -> Iterator[None]:
    """Run an SDK call, re-raising its errors as Kiln's (detail without secrets: the class
    name and the operation, never the SDK's message, which can echo request headers)."""
    try:
        yield
    except KilnError:
        raise
    except e2b.FileNotFoundException as exc:
        raise FileNotFoundError(what) from exc
    except Exception as exc:
        kiln = translate(exc, what)
        if kiln is None:
            raise
        raise kiln from exc
