"""Bounded pools of upstream HTTP connections (httpx), one per way out.

TCP upstreams (loopback ports, E2B hosts) share one pool. A unix socket needs a transport of
its own, so each socket gets a small client, kept for reuse (keep-alive) in a bounded LRU; one
pushed out is closed once the last request using it ends. A socket path longer than a unix
address holds (deep sandbox roots) is reached through `/proc/self/fd/<dir fd>/<name>`, the
directory held open as long as its client (as actors/sandbox/preview.py does on the worker).
Proxy settings from the environment are ignored (`trust_env=False`): an HTTP_PROXY must never
see sandbox traffic.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from web.preview.targets import Target

TIMEOUT = httpx.Timeout(connect=5.0, read=60.0, write=30.0, pool=5.0)
TCP_LIMITS = httpx.Limits(max_connections=256, max_keepalive_connections=64, keepalive_expiry=30)
UNIX_LIMITS = httpx.Limits(max_connections=32, max_keepalive_connections=8, keepalive_expiry=30)
MAX_UNIX_CLIENTS = 64
_MAX_UNIX_ADDRESS = 100  # bytes; sun_path holds 108 with its NUL


def _client(transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=transport, timeout=TIMEOUT, limits=TCP_LIMITS,
                               trust_env=False, follow_redirects=False)
    for name in list(client.headers):  # forward the caller's headers, not httpx's defaults
        del client.headers[name]
    return client


@dataclass
class _Held:
    client: httpx.AsyncClient
    address: str | None = None  # what to connect to (a short name for a long path)
    dir_fd: int | None = None
    users: int = 0
    evicted: bool = False

    async def aclose(self) -> None:
        await self.client.aclose()
        if self.dir_fd is not None:
            os.close(self.dir_fd)
            self.dir_fd = None


@dataclass(frozen=True)
class Lease:
    client: httpx.AsyncClient
    unix_address: str | None  # for other protocols on the same socket (WebSockets)


def _unix(path: str) -> _Held:
    dir_fd = None
    address = path
    if len(os.fsencode(path)) >= _MAX_UNIX_ADDRESS:
        directory, _, name = path.rpartition("/")
        dir_fd = os.open(directory or "/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        address = f"/proc/self/fd/{dir_fd}/{name}"
    transport = httpx.AsyncHTTPTransport(uds=address, limits=UNIX_LIMITS, trust_env=False)
    return _Held(_client(transport), address, dir_fd)


class Clients:
    def __init__(self, max_unix: int = MAX_UNIX_CLIENTS) -> None:
        self._tcp = _client()
        self._unix: OrderedDict[str, _Held] = OrderedDict()
        self._max_unix = max_unix

    @asynccontextmanager
    async def lease(self, target: Target) -> AsyncIterator[Lease]:
        """The client for `target`, held for as long as a request (and its streamed
        response, or a WebSocket) uses it."""
        path = target.unix_path
        if path is None:
            yield Lease(self._tcp, None)
            return
        held = self._unix.get(path)
        if held is None:
            held = self._unix[path] = _unix(path)
            while len(self._unix) > self._max_unix:
                _, old = self._unix.popitem(last=False)
                old.evicted = True
                if old.users == 0:
                    await old.aclose()
        self._unix.move_to_end(path)
        held.users += 1
        try:
            yield Lease(held.client, held.address)
        finally:
            held.users -= 1
            if held.evicted and held.users == 0:
                await held.aclose()

    async def aclose(self) -> None:
        await self._tcp.aclose()
        for held in self._unix.values():
            await held.aclose()
        self._unix.clear()
