"""Shared fixtures: a real Redis (REDIS_URL from bin/test, or one started here), a clean
database per test, and a JobStore on it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

from domain.redis_client import connect
from domain.settings import Settings
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
def broker_r(redis_url: str) -> Iterator[redis.Redis]:
    """Dramatiq's database (KILN_BROKER_DB): the stage queues, apart from Kiln's data."""
    client = connect(redis_url, db=Settings.from_env().broker_db)
    yield client
    client.close()


@pytest.fixture
def r(redis_url: str, broker_r: redis.Redis) -> Iterator[redis.Redis]:
    """Kiln's database, empty; the broker's is emptied too (no message outlives its test)."""
    client = connect(redis_url)
    client.flushdb()
    broker_r.flushdb()
    yield client
    client.close()


@pytest.fixture
def store(r: redis.Redis) -> JobStore:
    return JobStore(r, prefix="kiln")


@pytest.fixture
def project(store: JobStore) -> dict:
    return store.create_project("user-1", "Demo")
