"""Redis connections for Kiln's own data (strings in, strings out)."""

from __future__ import annotations

import redis


def connect(url: str, **kwargs: object) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True, health_check_interval=30, **kwargs)


def connect_bounded(url: str, max_connections: int, wait_s: float = 20.0) -> redis.Redis:
    """A client whose pool holds at most `max_connections`; a thread that finds them all in
    use waits up to `wait_s` for one instead of failing ("Too many connections"), so a worker
    with more threads than connections slows down rather than failing its stages."""
    pool = redis.BlockingConnectionPool.from_url(
        url, decode_responses=True, health_check_interval=30, max_connections=max_connections,
        timeout=wait_s)
    return redis.Redis(connection_pool=pool)
