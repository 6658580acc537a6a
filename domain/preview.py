"""Where a READY build's preview is served from: its *upstream*, as the worker records it.

Users never see an upstream: they see the stable URL `<preview origin>/preview/<job_id>/`
(web/preview/), and the web tier connects to the upstream behind it. An upstream is
- `http://127.0.0.1:<port>`: a local sandbox's app on a loopback port (host-bound);
- `unix:/<path>`: a local sandbox's app behind a unix socket the host owns (host-bound);
- `https://<host>`: an E2B sandbox's public host, reachable from anywhere.
A host-bound upstream is reachable only on the worker host that started it, recorded next to
it (`preview_host`), so a web process elsewhere never connects to its own loopback by mistake.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

UPSTREAM_FIELD = "preview_upstream"
HOST_FIELD = "preview_host"
UNIX = "unix:"


def this_host() -> str:
    """The name this host records on what only it can reach (sandboxes, their previews)."""
    return os.environ.get("KILN_HOST_ID") or socket.gethostname()


def _loopback(hostname: str) -> bool:
    if hostname == "localhost" or hostname.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Upstream:
    kind: str  # "http" (http or https URL) or "unix" (a socket path)
    base: str  # "http(s)://host[:port]" without a trailing slash, or the socket's path
    host_bound: bool  # reachable only on the host that started it

    @classmethod
    def parse(cls, raw: str | None) -> Upstream | None:
        """The recorded upstream, or None for anything else (nothing is guessed)."""
        if not raw:
            return None
        if raw.startswith(UNIX):
            path = raw[len(UNIX):]
            return cls("unix", path, True) if path.startswith("/") and "\0" not in path else None
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        if parts.username or parts.password or parts.query or parts.fragment:
            return None
        try:
            parts.port  # noqa: B018 (raises on a malformed port)
        except ValueError:
            return None
        base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        return cls("http", base, _loopback(parts.hostname))

    def __str__(self) -> str:
        return f"{UNIX}{self.base}" if self.kind == "unix" else self.base


def upstream_fields(upstream: str) -> dict[str, str]:
    """What the worker records on a READY job about its preview's upstream."""
    parsed = Upstream.parse(upstream)
    if parsed is None:
        raise ValueError(f"not a preview upstream: {upstream!r}")
    return {UPSTREAM_FIELD: str(parsed), HOST_FIELD: this_host() if parsed.host_bound else ""}
