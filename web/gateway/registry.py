"""Which worker host's preview gateway is where: `<prefix>:gateway:<host>` -> its URL, set by
the gateway with a TTL it renews (a heartbeat), removed when it stops cleanly. A gateway that
died outright drops out when the TTL runs out; meanwhile the web tier's connection to it is
refused, which shows the same `preview_unreachable` page.
"""

from __future__ import annotations

import contextlib

import redis.asyncio as aioredis

from domain.keys import Keys

TTL_S = 15
HEARTBEAT_S = 5


class GatewayRegistry:
    def __init__(self, aredis: aioredis.Redis, keys: Keys) -> None:
        self.aredis = aredis
        self.keys = keys

    async def url(self, host: str) -> str | None:
        """The live gateway of `host`, or None."""
        if not host:
            return None
        value = await self.aredis.get(self.keys.gateway(host))
        if isinstance(value, bytes):
            value = value.decode()
        return value or None

    async def register(self, host: str, url: str, ttl_s: int = TTL_S) -> None:
        await self.aredis.set(self.keys.gateway(host), url, ex=ttl_s)

    async def unregister(self, host: str, url: str) -> None:
        """Remove the entry if it is still this gateway's (a successor's stays)."""
        key = self.keys.gateway(host)
        async with self.aredis.pipeline(transaction=True) as pipe:
            await pipe.watch(key)
            current = await pipe.get(key)
            if isinstance(current, bytes):
                current = current.decode()
            if current != url:
                await pipe.unwatch()
                return
            pipe.multi()
            pipe.delete(key)
            with contextlib.suppress(aioredis.WatchError):  # taken over meanwhile: leave it
                await pipe.execute()
