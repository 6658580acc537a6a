"""How this web process reaches a job's upstream (domain/preview.py).

Today: directly. An E2B host from anywhere; a loopback port or a unix socket only from the
worker host that started it (`preview_host`): from any other host the same address would be
some other process, so that is `Unreachable`, never a guess. A per-host preview gateway
(docs/previews.md, "Several worker hosts") will be one more kind of target here: the same
request, sent over the network to that host's gateway with an HMAC.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import httpx

from domain.preview import Upstream

UNIX_AUTHORITY = "localhost"  # the Host an app behind a unix socket sees


class Unreachable(Exception):
    """The upstream is on another host, and this process has no way there."""


@dataclass(frozen=True)
class Target:
    upstream: Upstream

    @property
    def unix_path(self) -> str | None:
        return self.upstream.base if self.upstream.kind == "unix" else None

    @property
    def base_url(self) -> str:
        """The upstream's URL root (for a unix socket, a name only the socket hears)."""
        return f"http://{UNIX_AUTHORITY}" if self.unix_path else self.upstream.base

    def url(self, path_query: str, websocket: bool = False) -> str:
        """`path_query` starts with "/"."""
        url = self.base_url + path_query
        if websocket:
            url = "ws" + url[len("http"):]  # http -> ws, https -> wss
        return url

    def key(self) -> str:
        return str(self.upstream)


def resolve(raw_upstream: str | None, host: str | None, here: str) -> Target | None:
    """The target for a job's recorded upstream; None when it has none (or not one Kiln
    wrote). Raises Unreachable for a host-bound upstream on another host."""
    upstream = Upstream.parse(raw_upstream)
    if upstream is None:
        return None
    if upstream.host_bound and (host or "") != here:
        raise Unreachable(host or "")
    return Target(upstream)


def fetch(raw_upstream: str, path: str = "/", timeout: float = 5.0) -> httpx.Response:
    """GET `path` from an upstream on this host, directly (for tools and tests: bin/bench, the
    pipeline tests; the proxy itself uses clients.py). Raises httpx errors when it does not
    answer."""
    target = Target(Upstream.parse(raw_upstream) or Upstream("http", raw_upstream, False))
    socket_path = target.unix_path
    if socket_path is None:
        return httpx.get(target.url(path), timeout=timeout, trust_env=False)
    directory, _, name = socket_path.rpartition("/")
    dir_fd = os.open(directory or "/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:  # through the directory: any path length fits a unix address this way
        transport = httpx.HTTPTransport(uds=f"/proc/self/fd/{dir_fd}/{name}")
        with httpx.Client(transport=transport, timeout=timeout) as client:
            return client.get(target.url(path))
    finally:
        os.close(dir_fd)
