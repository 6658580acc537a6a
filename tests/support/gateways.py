"""`python -m web.gateway` as a real process for tests: a worker host's preview gateway under a
host name of the test's choosing, found through its registration in Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from domain.keys import Keys
from tests.support.waiting import wait_for
from tests.support.webproc import stop_process

ROOT = Path(__file__).resolve().parents[2]
GATEWAY_SECRET = "kiln-test-gateway-secret-0123456789abcdef"


def gateway_env(redis_url: str, host: str, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
    return {**base, "REDIS_URL": redis_url, "KILN_HOST_ID": host, "KILN_LOG_FORMAT": "json",
            "KILN_PREVIEW_GATEWAY_SECRET": GATEWAY_SECRET,
            "KILN_PREVIEW_GATEWAY_BIND": "127.0.0.1:0", "PYTHONPATH": str(ROOT), **extra}


@dataclass
class GatewayProcess:
    proc: subprocess.Popen[bytes]
    host: str
    url: str

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(15)


def registered(client: redis.Redis, host: str) -> str | None:
    value = client.get(Keys("kiln").gateway(host))
    return value.decode() if isinstance(value, bytes) else value


@contextmanager
def gateway_process(redis_url: str, host: str, log_path: Path) -> Iterator[GatewayProcess]:
    """A running gateway of `host`, its URL as registered; stopped (SIGTERM) afterwards."""
    client = redis.Redis.from_url(redis_url)
    client.delete(Keys("kiln").gateway(host))
    with log_path.open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "web.gateway"], cwd=ROOT,
                                env=gateway_env(redis_url, host), stdout=log,
                                stderr=subprocess.STDOUT)
    gateway = None
    try:
        def up() -> str | None:
            assert proc.poll() is None, f"the gateway exited with {proc.returncode}"
            return registered(client, host)

        gateway = GatewayProcess(proc, host, wait_for(up, 30, message="the gateway"))
        yield gateway
    finally:
        stop_process(proc)
        client.close()
