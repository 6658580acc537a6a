"""The preview origin (`KILN_PREVIEW_ORIGIN`) and the split that keeps it apart from Kiln's own.

Previews run code Kiln did not write. On an origin of their own, their JavaScript can never
read Kiln's pages or the token the build page keeps. So a request whose Host is the preview
origin's reaches only the preview routes (and the health checks), and Kiln's routes never
serve previews: the two origins really are separate.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from domain.settings import ConfigError

PREFIX = "/preview/"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SHARED_PATHS = frozenset({"/healthz", "/readyz"})  # a load balancer's checks on either name


def _host_port(value: str) -> tuple[str, int | None]:
    """`host[:port]` (or `[v6]:port`) from a Host header, lower-cased."""
    value = value.strip().lower()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = value.partition(":")
    return host, int(port) if port.isdigit() else None


@dataclass(frozen=True)
class PreviewOrigin:
    origin: str = ""  # "https://preview.example.com"; "" = this deployment serves no previews
    scheme: str = ""
    hostname: str = ""
    port: int | None = None

    @classmethod
    def parse(cls, raw: str) -> PreviewOrigin:
        if not raw:
            return cls()
        parts = urlsplit(raw.strip())
        try:
            port = parts.port
        except ValueError:
            port = -1
        if (parts.scheme not in _DEFAULT_PORTS or not parts.hostname or port == -1
                or parts.path not in ("", "/") or parts.query or parts.fragment
                or parts.username or parts.password):
            raise ConfigError(f"KILN_PREVIEW_ORIGIN must be an origin like "
                              f"https://preview.example.com (scheme, host, optional port; no "
                              f"path), not {raw!r}")
        default = _DEFAULT_PORTS[parts.scheme]
        netloc = parts.hostname if port in (None, default) else f"{parts.hostname}:{port}"
        if ":" in parts.hostname:  # an IPv6 literal
            netloc = f"[{parts.hostname}]" + ("" if port in (None, default) else f":{port}")
        return cls(f"{parts.scheme}://{netloc}", parts.scheme, parts.hostname, port or default)

    @property
    def enabled(self) -> bool:
        return bool(self.origin)

    @property
    def secure_context(self) -> bool:
        """Browsers accept Secure cookies from it: https, or a loopback name (as Chromium and
        Firefox treat http://localhost and http://127.0.0.1)."""
        return self.scheme == "https" or self.hostname in ("localhost", "127.0.0.1", "::1") \
            or self.hostname.endswith(".localhost")

    def url(self, job_id: str) -> str | None:
        """The stable URL of a job's preview; derived from the id alone (no Redis read)."""
        return f"{self.origin}{PREFIX}{job_id}/" if self.origin else None

    def serves(self, host_header: str) -> bool:
        """Is a request with this Host header on the preview origin? Without a port in the
        header (a TLS proxy in front), the host name decides."""
        if not self.origin:
            return False
        host, port = _host_port(host_header)
        return host == self.hostname and (port is None or port == self.port)

    def is_origin(self, origin_header: str | None) -> bool:
        """Is an `Origin` header this origin (a request from a preview's own page)?"""
        if not origin_header:
            return False
        parts = urlsplit(origin_header.strip().lower())
        try:
            port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
        except ValueError:
            return False
        return (parts.scheme, parts.hostname, port) == (self.scheme, self.hostname, self.port)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return ""


class OriginSplit:
    """Requests for the preview origin go to the preview app, all others to Kiln's."""

    def __init__(self, kiln_app: ASGIApp, preview_app: ASGIApp, origin: PreviewOrigin) -> None:
        self.kiln_app = kiln_app
        self.preview_app = preview_app
        self.origin = origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (self.origin.enabled and scope["type"] in ("http", "websocket")
                and scope["path"] not in _SHARED_PATHS
                and self.origin.serves(_header(scope, b"host"))):
            await self.preview_app(scope, receive, send)
        else:
            await self.kiln_app(scope, receive, send)
