"""Redis connections for Kiln's own data (strings in, strings out)."""

from __future__ import annotations

import redis


def connect(url: str, **kwargs: object) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True, health_check_interval=30, **kwargs)
