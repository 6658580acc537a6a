"""`Idempotency-Key` for starts: a retried request returns the first one's response.

Keys are per user and live 24 h. The first request claims the key atomically (SET NX) before
it creates anything; a concurrent retry waits briefly for the first to finish, and a failed
first attempt releases the key so a retry can go ahead.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import Any

import redis.asyncio as aioredis

from domain.keys import Keys
from web.errors import ApiError, invalid

TTL_S = 24 * 3600
MAX_KEY = 255


def validate_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not 0 < len(value) <= MAX_KEY or not value.isprintable():
        raise invalid(f"Idempotency-Key must be 1-{MAX_KEY} printable characters")
    return value


def fingerprint(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


class Idempotency:
    def __init__(self, client: aioredis.Redis, keys: Keys, wait_s: float = 5.0) -> None:
        self.redis = client
        self.keys = keys
        self.wait_s = wait_s

    async def claim(self, user_id: str, key: str, fp: str) -> dict[str, Any] | None:
        """None when this request owns the key; else the first request's response body."""
        name = self.keys.idempotency(user_id, key)
        deadline = time.monotonic() + self.wait_s
        while True:
            pending = json.dumps({"state": "pending", "fp": fp})
            if await self.redis.set(name, pending, nx=True, ex=TTL_S):
                return None
            raw = await self.redis.get(name)
            if raw is not None:
                record = json.loads(raw)
                if record.get("fp") != fp:
                    raise ApiError(422, "idempotency_key_reused",
                                   "This Idempotency-Key was used with a different request")
                if record["state"] == "done":
                    return record["response"]
            if time.monotonic() > deadline:
                raise ApiError(409, "idempotency_in_progress",
                               "A request with this Idempotency-Key is still in progress")
            await asyncio.sleep(0.05)

    async def complete(self, user_id: str, key: str, fp: str, response: dict[str, Any]) -> None:
        record = json.dumps({"state": "done", "fp": fp, "response": response})
        await self.redis.set(self.keys.idempotency(user_id, key), record, ex=TTL_S)

    async def release(self, user_id: str, key: str) -> None:
        await self.redis.delete(self.keys.idempotency(user_id, key))
