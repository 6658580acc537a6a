"""`uvicorn web.app:app` as a real process (the image's command), logging to a file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(proc: subprocess.Popen, grace_s: float = 10) -> None:
    """SIGTERM, then SIGKILL after `grace_s`; waits for it either way."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def uvicorn_argv(port: int, *args: str) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "web.app:app", "--host", "127.0.0.1", "--port",
            str(port), *args]


def web_env(**env: str) -> dict[str, str]:
    """This process's environment without Kiln's secrets, plus `env` (an empty value removes
    the variable)."""
    base = {k: v for k, v in os.environ.items() if k not in ("KILN_JWT_SECRET",
                                                             "KILN_METRICS_TOKEN")}
    base.update(env)
    return {k: v for k, v in base.items() if v != ""}


def _ready(url: str, proc: subprocess.Popen[bytes]) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"uvicorn exited with {proc.returncode}")
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def web_process(env: dict[str, str], log_path: Path, *args: str,
                port: int | None = None) -> Iterator[str]:
    """A running web app's base URL; stopped (SIGTERM, then waited for) afterwards."""
    port = port or free_port()
    with log_path.open("ab") as log:
        proc = subprocess.Popen(uvicorn_argv(port, *args), env=env, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ready(url, proc), 30, message="the web app to be ready")
        yield url
    finally:
        stop_process(proc)
