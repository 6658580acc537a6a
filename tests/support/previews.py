"""Helpers for preview tests: Kiln on a real uvicorn whose preview origin is
`http://localhost:<port>` (Kiln's own pages on `http://127.0.0.1:<port>`: the same server, two
origins, as bin/dev runs it), and tests/support/preview_app.py started in a real local sandbox
(bubblewrap where it works) as a READY build's app."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette

from actors.sandbox.local import LocalRuntime
from actors.sandbox.local_sandbox import LocalSandbox
from domain.preview import upstream_fields
from domain.settings import Settings
from domain.status import Status
from domain.store import JobStore
from tests.support.waiting import wait_for
from tests.web.conftest import auth, job_at
from web.preview.targets import fetch

APP = Path(__file__).resolve().parent / "preview_app.py"


@dataclass
class Stack:
    url: str  # Kiln's origin, as clients reach it
    origin: str  # the preview origin (same server)
    app: Starlette

    @property
    def host(self) -> str:
        return self.origin.removeprefix("http://")

    def previews(self, **headers: str) -> httpx.Client:
        """A client on the preview origin (the server is reached on 127.0.0.1; the Host header
        names the origin, as a browser's would)."""
        return httpx.Client(base_url=self.url, timeout=10, headers={"Host": self.host, **headers})

    def kiln(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)


@dataclass
class SandboxApp:
    sandbox: LocalSandbox
    upstream: str  # what the checks stage records: the sandbox's socket, or its loopback URL


def _bound() -> tuple[socket.socket, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock, sock.getsockname()[1]


def serve_previews(settings: Settings) -> Iterator[Stack]:
    """Kiln with its preview origin on the port it listens on; stopped afterwards."""
    from web.app import create_app

    sock, port = _bound()
    origin = f"http://localhost:{port}"
    app = create_app(dataclasses.replace(settings, preview_origin=origin), sse_ping_s=1)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive())
    assert server.started, "uvicorn did not start"
    try:
        yield Stack(f"http://127.0.0.1:{port}", origin, app)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def start_app(runtime: LocalRuntime) -> SandboxApp:
    sandbox = runtime.create("job-preview", {}, 600)
    sandbox.write_files({"app.py": APP.read_text()})
    port = sandbox.preview_port()
    sandbox.start_background(f"python3 app.py --port {port}")
    upstream = sandbox.preview_url(port)
    wait_for(lambda: _up(upstream), 15, message="the sandbox app")
    return SandboxApp(sandbox, upstream)


def _up(upstream: str) -> bool:
    try:
        return fetch(upstream, "/api/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def ready_job(store: JobStore, project_id: str, upstream: str, user: str = "user-1",
              sandbox_id: str = "local-0000000000000000", expires_in: float = 3600,
              **fields: str) -> str:
    """A READY job of `user` whose preview is `upstream` (the checks stage's record)."""
    job_id = job_at(store, project_id, Status.CHECKS, user)
    values = {**upstream_fields(upstream), "sandbox_id": sandbox_id,
              "sandbox_expires_at": repr(time.time() + expires_in), **fields}
    assert store.transition(job_id, Status.READY, **values).ok
    return job_id


def link(stack: Stack, job_id: str, user: str = "user-1") -> str:
    """A signed link from the API, as the build page asks for one."""
    with stack.kiln() as client:
        res = client.post(f"/api/generation/{job_id}/preview-link", headers=auth(user))
    assert res.status_code == 200, res.text
    return res.json()["url"]
