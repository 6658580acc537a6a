"""Fixtures for Kiln's browser tests: Debian's Chromium driven by Playwright, against a real
uvicorn serving `web.app:app`, real `dramatiq actors` workers and the real Redis.

Everything runs under a Redis key prefix of its own, with sandboxes under a temporary root;
server and worker logs are kept under artifacts/browser/logs/, screenshots under
artifacts/browser/.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from web.auth import mint

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "browser"
LOGS = ARTIFACTS / "logs"
CHROMIUM = Path("/usr/bin/chromium")
# Debian's Chromium under Playwright, without `playwright install` (see FIELD-NOTES.md).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]


def tool(name: str) -> list[str]:
    """`uv run --frozen --no-sync NAME`, or the same tool from this interpreter's environment
    where uv is not on PATH."""
    if shutil.which("uv"):
        return ["uv", "run", "--frozen", "--no-sync", name]
    return [sys.executable, "-m", name]


# ---- Chromium ---------------------------------------------------------------------------

@pytest.fixture(scope="session")
def chromium_path() -> str:
    # Tests install nothing: `.ci/run` installs Chromium (and fails when it cannot).
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    return str(CHROMIUM)


# Module scope, not session: Playwright's sync API keeps an event loop running in the main
# thread while it is open, which would break asyncio.run() in every test after this module.
@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


def _page_file(url: str) -> bool:
    """One of the build page's own files (web/static), not an API call or a preview's file."""
    return urlsplit(url).path.startswith("/static/")


def _console_error(message: object) -> str | None:
    """A console message that means the page is broken, or None. A failed API request is the
    page's business (it says so on the page: a refused token, a dropped stream), but a static
    file that failed to load (a module, the style sheet) is not."""
    if message.type != "error":
        return None
    url = (message.location or {}).get("url", "")
    if message.text.startswith("Failed to load resource") and not _page_file(url):
        return None
    return f"console: {message.text} ({url})"


@pytest.fixture
def page_factory(browser: object) -> Iterator[Callable[..., object]]:
    """New pages, each in a fresh context (own localStorage), closed after the test. Script
    errors, console errors and static files that fail to load (a module that is missing,
    or served as anything but JavaScript) are collected on `page.kiln_errors`, and fail the
    test at teardown."""
    contexts: list[object] = []
    pages: list[object] = []

    def make(width: int = 1280, height: int = 900) -> object:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        pages.append(page)
        page.kiln_errors = []
        page.on("pageerror", lambda exc: page.kiln_errors.append(f"pageerror: {exc}"))

        def on_console(message: object) -> None:
            error = _console_error(message)
            if error:
                page.kiln_errors.append(error)

        page.on("console", on_console)
        page.on("requestfailed", lambda request: page.kiln_errors.append(
            f"requestfailed: {request.url}") if _page_file(request.url) else None)
        return page

    yield make
    errors = [error for page in pages for error in page.kiln_errors]
    for context in contexts:
        with contextlib.suppress(Exception):
            context.close()
    assert errors == [], errors


# ---- the Kiln stack ---------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL it if it is still there after `grace_s`."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class KilnStack:
    """A running Kiln for one test session: base URL, environment, and helpers."""

    base_url: str
    env: dict[str, str]
    jwt_secret: str
    sandbox_root: Path
    workers: list[subprocess.Popen] = field(default_factory=list)
    workers_name: str | None = None
    web: subprocess.Popen | None = None
    web_starts: int = 0

    def token(self, user: str, tier: str = "partner") -> str:
        return mint(user, tier, self.jwt_secret, ttl_s=3600)

    def link(self, token: str) -> str:
        """The sign-in link, in the form `bin/token USER --url` prints."""
        return f"{self.base_url}/#token={token}"

    def bin_token_link(self, user: str, tier: str = "partner") -> str:
        """The link `bin/token USER --tier TIER --url` prints for this stack."""
        done = subprocess.run(
            [str(ROOT / "bin" / "token"), user, "--tier", tier, "--url"], cwd=ROOT,
            env={**self.env, "PORT": self.base_url.rsplit(":", 1)[1]}, capture_output=True,
            text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    @property
    def preview_origin(self) -> str:
        return self.env["KILN_PREVIEW_ORIGIN"]

    def api(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10,
                            headers={"Authorization": f"Bearer {token}"})

    def use_workers(self, name: str, **env: str) -> subprocess.Popen:
        """`dramatiq actors` with this stack's environment plus `env`, started once and reused
        by every test that asks for the same `name` (a worker's first build pays for its
        imports). One set runs at a time: all of them consume Kiln's one queue."""
        if self.workers_name == name and self.workers and self.workers[0].poll() is None:
            return self.workers[0]
        self.stop_workers()
        log = LOGS / f"workers-{name}.log"
        proc = subprocess.Popen(
            [*tool("dramatiq"), "actors", "--processes", "1", "--threads", "4"],
            cwd=ROOT, env={**self.env, **env}, stdout=log.open("wb"),
            stderr=subprocess.STDOUT, start_new_session=True)
        self.workers, self.workers_name = [proc], name
        return proc

    def stop_workers(self) -> None:
        for proc in self.workers:
            _stop(proc)
        self.workers, self.workers_name = [], None

    def start_web(self) -> None:
        port = self.base_url.rsplit(":", 1)[1]
        self.web_starts += 1
        log = LOGS / f"uvicorn-{self.web_starts}.log"
        self.web = subprocess.Popen(
            [*tool("uvicorn"), "web.app:app", "--host", "127.0.0.1", "--port", port],
            cwd=ROOT, env=self.env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True)
        _wait_ready(self.base_url, self.web, log)

    def stop_web(self) -> None:
        if self.web is not None:
            _stop(self.web)
            self.web = None

    def restart_web(self) -> None:
        """Crash the web server (every open connection, live event streams included, drops
        at once) and bring it back on the same address."""
        if self.web is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.web.pid, signal.SIGKILL)
            self.web.wait(10)
            self.web = None
        self.start_web()


def _wait_ready(url: str, proc: subprocess.Popen, log: Path, deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {proc.returncode}:\n{_tail(log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"uvicorn not ready within {deadline_s} s:\n{_tail(log)}")


def _kill_sandboxes(stack: KilnStack) -> None:
    """Leave no preview server behind: kill every sandbox this session created."""
    from actors.sandbox.local import LocalRuntime
    from actors.sandbox.registry import SandboxRegistry
    from domain.redis_client import connect

    client = connect(stack.env["REDIS_URL"])
    try:
        runtime = LocalRuntime(stack.sandbox_root,
                               SandboxRegistry(client, stack.env["KILN_REDIS_PREFIX"]))
        for sandbox_id, _meta in runtime.list_live():
            with contextlib.suppress(Exception):
                runtime.kill(sandbox_id)
    finally:
        client.close()


@pytest.fixture(scope="module")
def kiln_stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[KilnStack]:
    """uvicorn serving web.app:app on a free port, and workers started as tests ask for them.
    Module-scoped: everything stops before other test modules run, so these workers never
    take messages from Kiln's shared queue that belong to other tests."""
    LOGS.mkdir(parents=True, exist_ok=True)
    sandbox_root = tmp_path_factory.mktemp("kiln-sandboxes")
    secret = secrets.token_urlsafe(32)
    port = free_port()
    env = {**os.environ, "REDIS_URL": redis_url,
           # As bin/dev runs it: the page on 127.0.0.1, previews on localhost (same server).
           "KILN_PREVIEW_ORIGIN": f"http://localhost:{port}",
           "KILN_REDIS_PREFIX": f"kiln-browser-{secrets.token_hex(4)}",
           "KILN_JWT_SECRET": secret, "KILN_SANDBOX_ROOT": str(sandbox_root),
           "KILN_SANDBOX": "local", "KILN_GENERATOR": "template", "KILN_LOG_FORMAT": "json",
           "PYTHONUNBUFFERED": "1",
           # Waiting states within reach: a cto_scale user runs one build at a time (the next
           # one queues), a bootstrapper gets one build a day (the next one is scheduled).
           "KILN_TIER_CTO_SCALE_CONCURRENT_PER_USER": "1",
           "KILN_TIER_BOOTSTRAPPER_DAILY_JOBS": "1"}
    stack = KilnStack(f"http://127.0.0.1:{port}", env, secret, sandbox_root)
    try:
        stack.start_web()
        yield stack
    finally:
        stack.stop_workers()
        stack.stop_web()
        _kill_sandboxes(stack)


# ---- a stand-in for the Anthropic Messages API -------------------------------------------

@dataclass
class FakeModel:
    """Answers POST /v1/messages like the Messages API, but never with files: the answer has
    no write_files call, so the code stage fails with Kiln's "writing your app's code" message.
    A request whose prompt contains HOLD is held until `release()` (or 60 s): the build waits
    at "Writing code..." for as long as a test needs."""

    url: str
    requests: list[str]
    held: threading.Event
    released: threading.Event

    HOLD = "[hold]"

    def release(self) -> None:
        self.released.set()

    def reset(self) -> None:
        self.released.clear()
        self.held.clear()


@pytest.fixture(scope="module")
def fake_model_server() -> Iterator[FakeModel]:
    fake = FakeModel("", [], threading.Event(), threading.Event())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            text = body.decode(errors="replace")
            fake.requests.append(text)
            if FakeModel.HOLD in text:
                fake.held.set()
                fake.released.wait(60)
            answer = {
                "id": "msg_kiln_test", "type": "message", "role": "assistant",
                "model": "kiln-test", "stop_reason": "end_turn", "stop_sequence": None,
                "content": [{"type": "text", "text": "I would rather describe the app."}],
                "usage": {"input_tokens": 1, "output_tokens": 1},
            }
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.release()
        server.shutdown()
        server.server_close()


@pytest.fixture
def fake_model(fake_model_server: FakeModel) -> Iterator[FakeModel]:
    """The fake Messages API, fresh for this test; a held answer is let go at its end."""
    fake_model_server.reset()
    yield fake_model_server
    fake_model_server.release()


@pytest.fixture
def template_workers(kiln_stack: KilnStack) -> subprocess.Popen:
    """Workers with the default template generator."""
    return kiln_stack.use_workers("template")


@pytest.fixture
def fake_model_workers(kiln_stack: KilnStack, fake_model: FakeModel) -> subprocess.Popen:
    """Workers whose generator is the Anthropic one, pointed at the fake Messages API."""
    return kiln_stack.use_workers(
        "fake-model", KILN_GENERATOR="anthropic", ANTHROPIC_API_KEY="kiln-test-key",
        ANTHROPIC_BASE_URL=fake_model.url)
