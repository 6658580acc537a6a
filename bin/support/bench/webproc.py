"""A uvicorn process (one worker, uvicorn's defaults as in the Dockerfile) on a loopback port,
and an HTTP client already signed in as the benchmark's user."""

from __future__ import annotations

import sys

import httpx

from bin.support.bench import common
from web.auth import mint

SECRET = "kiln-bench-secret-0123456789abcdef"
USER = "bench"


def start(procs: common.Processes, env: dict[str, str], app: str = "web.app:app",
          name: str = "web") -> str:
    """Start uvicorn serving `app`; returns its base URL once /healthz (or /) answers."""
    port = common.free_port()
    argv = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    procs.spawn(name, argv, {**env, "KILN_JWT_SECRET": SECRET})
    base = f"http://127.0.0.1:{port}"
    proc = procs.children[-1][0]

    def up() -> bool:
        try:
            return httpx.get(base + "/healthz", timeout=1).status_code < 500
        except httpx.HTTPError:
            return False

    common.wait_for(up, 30, f"{app} to answer", proc)
    return base


def token(user: str = USER, tier: str = "cto_scale") -> str:
    return mint(user, tier, SECRET)


def api(base: str, user: str = USER) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=10,
                        headers={"Authorization": f"Bearer {token(user)}"})
