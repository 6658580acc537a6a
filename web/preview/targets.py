"""How this web process reaches a job's upstream (domain/preview.py).

Directly: an E2B host from anywhere; a loopback port or a unix socket only from the worker
host that started it (`preview_host`): from any other host the same address would be some other
process, so that is `Unreachable`, never a guess. Via a gateway: a host-bound upstream on
another host, when that host runs a preview gateway (web/gateway/): the same request, sent to
the gateway's URL under `/preview/<job_id>`, signed with the shared secret; the gateway finds
the upstream itself, from the job's record.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from domain.preview import Upstream
from web.gateway import signing

UNIX_AUTHORITY = "localhost"  # the Host an app behind a unix socket sees


class Unreachable(Exception):
    """The upstream is on another host, and this process has no way there."""


@dataclass(frozen=True)
class Gateway:
    """The preview gateway of the upstream's host, and what a request to it is signed with."""

    url: str  # "http://<host>:<port>", no trailing slash
    job_id: str
    secret: str = field(repr=False)

    def signature(self, method: str, raw_target: str) -> tuple[str, str]:
        """The header for a request of `method` to `raw_target` (the path and query exactly as
        they go on the wire)."""
        return signing.HEADER, signing.sign(self.secret, method, self.job_id, raw_target,
                                            time.time())


@dataclass(frozen=True)
class Target:
    upstream: Upstream
    gateway: Gateway | None = None

    @property
    def unix_path(self) -> str | None:
        if self.gateway is None and self.upstream.kind == "unix":
            return self.upstream.base
        return None

    @property
    def app_base(self) -> str:
        """The app's own URL root, as its absolute redirects name it (for a unix socket, a name
        only the socket hears)."""
        return f"http://{UNIX_AUTHORITY}" if self.upstream.kind == "unix" else self.upstream.base

    @property
    def base_url(self) -> str:
        """Where this process connects: the gateway's URL root, or the app's."""
        if self.gateway is not None:
            return f"{self.gateway.url}{signing.PREFIX}{self.gateway.job_id}"
        return self.app_base

    def url(self, path_query: str, websocket: bool = False) -> str:
        """`path_query` starts with "/"."""
        url = self.base_url + path_query
        if websocket:
            url = "ws" + url[len("http"):]  # http -> ws, https -> wss
        return url

    def key(self) -> str:
        return f"{self.gateway.url} {self.upstream}" if self.gateway else str(self.upstream)


def resolve(raw_upstream: str | None, host: str | None, here: str) -> Target | None:
    """The target for a job's recorded upstream; None when it has none (or not one Kiln
    wrote). Raises Unreachable for a host-bound upstream on another host."""
    upstream = Upstream.parse(raw_upstream)
    if upstream is None:
        return None
    if upstream.host_bound and (host or "") != here:
        raise Unreachable(host or "")
    return Target(upstream)


def via_gateway(raw_upstream: str | None, gateway_url: str, job_id: str, secret: str) -> Target:
    """A host-bound upstream on another host, reached through that host's gateway."""
    upstream = Upstream.parse(raw_upstream)
    assert upstream is not None  # resolve() raised Unreachable for it: it parsed
    return Target(upstream, Gateway(gateway_url.rstrip("/"), job_id, secret))


def fetch(raw_upstream: str, path: str = "/", timeout: float = 5.0, method: str = "GET",
          **request: Any) -> httpx.Response:
    """`method` `path` on an upstream on this host, directly (for tools and tests: bin/bench,
    the sandbox and pipeline tests; the proxy itself uses clients.py); `request` as httpx
    takes it (content, json, headers). Raises httpx errors when it does not answer."""
    target = Target(Upstream.parse(raw_upstream) or Upstream("http", raw_upstream, False))
    socket_path = target.unix_path
    if socket_path is None:
        return httpx.request(method, target.url(path), timeout=timeout, trust_env=False,
                             **request)
    directory, _, name = socket_path.rpartition("/")
    try:
        dir_fd = os.open(directory or "/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError as exc:  # the sandbox is gone with its directory
        raise httpx.ConnectError(f"no socket directory {directory}") from exc
    try:  # through the directory: any path length fits a unix address this way
        transport = httpx.HTTPTransport(uds=f"/proc/self/fd/{dir_fd}/{name}")
        with httpx.Client(transport=transport, timeout=timeout) as client:
            return client.request(method, target.url(path), **request)
    finally:
        os.close(dir_fd)
