"""The web app on a real uvicorn (in a thread, on a free port) against the test Redis.

One server serves the whole session (its state is all in Redis, flushed per test by `r`);
tests that need other settings start their own with `serve()`.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from domain.settings import Settings
from domain.status import Status
from domain.store import JobStore
from tests.support.waiting import wait_for
from web.app import create_app
from web.auth import mint
from web.state import Kiln

SECRET = "kiln-test-secret-0123456789abcdef-0123"


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive())
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def token(user: str = "user-1", tier: str | None = "partner", secret: str = SECRET,
          ttl_s: int = 3600) -> str:
    return mint(user, tier, secret, ttl_s=ttl_s)


def auth(user: str = "user-1", tier: str | None = "partner") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(user, tier)}"}


@dataclass
class Live:
    url: str
    app: Starlette

    @property
    def kiln(self) -> Kiln:
        return self.app.state.kiln


@pytest.fixture(scope="session")
def web_settings(redis_url: str) -> Settings:
    return Settings(redis_url=redis_url, jwt_secret=SECRET, log_format="json")


@pytest.fixture(scope="session")
def live(web_settings: Settings) -> Iterator[Live]:
    app = create_app(web_settings, sse_ping_s=1)
    with serve(app) as url:
        yield Live(url, app)


@pytest.fixture
def api(live: Live, r: Any) -> Iterator[httpx.Client]:
    """A client for the session server, on a freshly flushed Redis."""
    with httpx.Client(base_url=live.url, timeout=10) as client:
        yield client


@pytest.fixture
def user_project(api: httpx.Client) -> dict[str, Any]:
    res = api.post("/api/projects", json={"name": "Todo"}, headers=auth())
    assert res.status_code == 201, res.text
    return res.json()


def job_at(store: JobStore, project_id: str, status: Status, user: str = "user-1") -> str:
    """A job of `user` put straight into `status` (the workers' side is not under test)."""
    return store.create_job(project_id, user, "partner", "a todo app", status=status).job_id


def walk(store: JobStore, job_id: str, *statuses: Status) -> None:
    for status in statuses:
        assert store.transition(job_id, status).ok, status
