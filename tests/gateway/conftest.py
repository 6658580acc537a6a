"""Two hosts on one machine: a web process that believes it is host `web-1`, and a preview
gateway that believes it is `worker-1` (separate processes, real Redis). The test process plays
worker-1's worker: it starts tests/support/preview_app.py in a real local sandbox and records
it on READY jobs with `preview_host` worker-1, as the checks stage would there.

The processes and the app serve the whole package. Nothing here flushes Redis (no test here
asks for `r`): the gateway's registration must outlive each test; every test makes jobs of its
own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from actors.sandbox.local import LocalRuntime
from domain.redis_client import connect
from domain.store import JobStore
from tests.support.gateways import GATEWAY_SECRET, GatewayProcess, gateway_process
from tests.support.previews import SandboxApp, Stack, start_app
from tests.support.webproc import free_port, web_env, web_process
from tests.web.conftest import SECRET

WORKER = "worker-1"


@pytest.fixture(scope="package")
def kv(redis_url: str) -> Iterator[redis.Redis]:
    client = connect(redis_url)
    yield client
    client.close()


@pytest.fixture(scope="package")
def jobs(kv: redis.Redis) -> JobStore:
    return JobStore(kv, prefix="kiln")


@pytest.fixture(scope="package")
def sandbox_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxApp]:
    runtime = LocalRuntime(tmp_path_factory.mktemp("gateway-sandboxes"))
    app = start_app(runtime)
    try:
        yield app
    finally:
        app.sandbox.kill()


@pytest.fixture(scope="package")
def gateway(redis_url: str, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[GatewayProcess]:
    log = tmp_path_factory.mktemp("gateway-logs") / "gateway.log"
    with gateway_process(redis_url, WORKER, log) as running:
        yield running


@pytest.fixture(scope="package")
def web(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Kiln's web app as host web-1, with its preview origin, using gateways."""
    port = free_port()
    origin = f"http://localhost:{port}"
    env = web_env(REDIS_URL=redis_url, KILN_JWT_SECRET=SECRET, KILN_HOST_ID="web-1",
                  KILN_PREVIEW_ORIGIN=origin, KILN_PREVIEW_GATEWAY_SECRET=GATEWAY_SECRET,
                  KILN_LOG_FORMAT="json")
    log = tmp_path_factory.mktemp("web-logs") / "web.log"
    with web_process(env, log, port=port) as url:
        yield Stack(url, origin, None)  # type: ignore[arg-type]
