"""`python -m web.gateway`: this worker host's preview gateway, on
`KILN_PREVIEW_GATEWAY_BIND` (host:port; default 127.0.0.1:8100; port 0: one the kernel picks),
announced to the web tier as `KILN_PREVIEW_GATEWAY_URL` (default: `http://<bind address>:<port>`,
or this host's own address when it binds every interface). Refuses to start without
`KILN_PREVIEW_GATEWAY_SECRET`.
"""

from __future__ import annotations

import socket
import sys

import uvicorn

from domain.settings import ConfigError, Settings
from web.gateway import signing
from web.gateway.app import create_gateway_app

STOP_S = 5  # open streams and WebSockets get this long when it stops


def parse_bind(bind: str) -> tuple[str, int]:
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"KILN_PREVIEW_GATEWAY_BIND must be host:port, not {bind!r}")
    return host.strip("[]"), int(port)


def announced_url(settings: Settings, host: str, port: int) -> str:
    """The URL other hosts reach this gateway at."""
    if settings.preview_gateway_url:
        return settings.preview_gateway_url.rstrip("/")
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostbyname(socket.gethostname())  # this host's own address
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _listening(host: str, port: int) -> socket.socket:
    """Bound before the URL is announced, so a port the kernel picks is known."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def main() -> int:
    settings = Settings.from_env()
    try:
        host, port = parse_bind(settings.preview_gateway_bind)
        # Checked before the socket is bound: a misconfigured gateway never listens.
        signing.check_secret(settings.preview_gateway_secret, "the preview gateway")
    except ConfigError as exc:
        print(f"kiln preview gateway: {exc}", file=sys.stderr)
        return 2
    try:
        sock = _listening(host, port)
    except OSError as exc:
        print(f"kiln preview gateway: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 2
    app = create_gateway_app(settings, announced_url(settings, host, sock.getsockname()[1]))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=STOP_S, proxy_headers=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
