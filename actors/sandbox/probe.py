"""One GET of a preview's URL, for the sandboxes whose app answers over HTTP."""

from __future__ import annotations

import http.client
import threading
from urllib.parse import urlsplit

import httpx

# What a probe of an app that is not up yet raises (the caller polls again).
PROBE_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError, http.client.HTTPException, OSError)

_client: httpx.Client | None = None
_lock = threading.Lock()


def http_status(url: str) -> int:
    """The status of GET `url`. A plain-http (local) preview gets http.client, a fraction of an
    HTTP library's CPU on every build's last step; https (e2b) keeps httpx, one client per
    process (building one loads the CA bundle: ~45 ms of CPU under the GIL)."""
    global _client
    parts = urlsplit(url)
    if parts.scheme == "http":
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=2.0)
        try:
            conn.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
            return conn.getresponse().status
        finally:
            conn.close()
    with _lock:
        if _client is None:
            _client = httpx.Client(timeout=2.0)
    return _client.get(url).status_code
