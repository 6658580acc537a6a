"""Shared fixtures: a real Redis (REDIS_URL from bin/test, or one started here), a clean
database per test, and a JobStore on it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

from domain.redis_client import connect
from domain.store import JobStore


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    # Plain `pytest` without bin/test: start the embedded server for this session.
    from bin.support.embedded_redis import EmbeddedRedis

    server = EmbeddedRedis(appendonly=False)
    os.environ["REDIS_URL"] = server.start()
    try:
        yield os.environ["REDIS_URL"]
    finally:
        server.cleanup()
        os.environ.pop("REDIS_URL", None)


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = connect(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def store(r: redis.Redis) -> JobStore:
    return JobStore(r, prefix="kiln")


@pytest.fixture
def project(store: JobStore) -> dict:
    return store.create_project("user-1", "Demo")
