"""What the escape tests share: a real Kiln web app on the host (the API and /metrics a hostile
app would go for, its process holding a secret in its environment), and a script that tries
TCP connections from inside a sandbox and reports each outcome."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sk-kiln-escape-test-secret-4242"

_CONNECT = r"""
import json, socket, sys
out = {}
for host, port in json.loads(sys.argv[1]):
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect((host, port))
        out[f"{host}:{port}"] = "connected"
    except OSError as exc:
        out[f"{host}:{port}"] = type(exc).__name__ + ": " + str(exc)
    finally:
        s.close()
print("RESULT " + json.dumps(out))
"""


def connect_script(targets: list[tuple[str, int]]) -> str:
    """A shell command that tries each (host, port) from inside the sandbox."""
    code = _CONNECT.replace("'", "'\"'\"'")
    return f"python3 -c '{code}' '{json.dumps(targets)}'"


def outcomes(output: str) -> dict[str, str]:
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def host_address() -> str | None:
    """This host's primary non-loopback IPv4 address (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
            return s.getsockname()[0]
        except OSError:
            return None


@dataclass
class HostApi:
    port: int
    pid: int


@pytest.fixture(scope="module")
def host_api(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostApi]:
    """`uvicorn web.app:app` on every host address, with a secret in its environment."""
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        port = s.getsockname()[1]
    log = (tmp_path_factory.mktemp("api") / "web.log").open("ab")
    env = {**os.environ, "REDIS_URL": redis_url, "PYTHONPATH": str(ROOT),
           "KILN_LOG_FORMAT": "json", "ANTHROPIC_API_KEY": SECRET}
    web = subprocess.Popen([sys.executable, "-m", "uvicorn", "web.app:app", "--host", "0.0.0.0",
                            "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/metrics"), 30,
                 message="the Kiln web app")
        yield HostApi(port, web.pid)
    finally:
        web.terminate()
        web.wait(10)
        log.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
