"""Neither a gateway nor a web app that proxies through gateways starts without a secret long
enough to sign with: each says what to set. A worker host runs its workers and its gateway
together: a real build on it is served by another host's web app, and a clean stop takes the
gateway's registration with it."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys

import pytest

from actors.sandbox.local import LocalRuntime
from domain.settings import ConfigError, Settings
from tests.support.gateways import ROOT, gateway_env, registered
from tests.support.procfs import read_all
from tests.support.waiting import pid_alive, wait_for
from tests.web.conftest import SECRET, auth


@pytest.mark.parametrize(("secret", "says"), [("", "is not set"),
                                                  ("short", "is 5 bytes, too short")])
def test_a_gateway_without_a_good_secret_does_not_start(redis_url, secret, says):
    for module in ("web.gateway", "bin.support.worker_host"):
        env = gateway_env(redis_url, "worker-x", KILN_PREVIEW_GATEWAY_SECRET=secret)
        done = subprocess.run([sys.executable, "-m", module], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, (module, done.stderr)
        assert f"KILN_PREVIEW_GATEWAY_SECRET {says}" in done.stderr, module
        assert "openssl rand" in done.stderr  # what to do about it


def test_a_web_app_with_a_short_gateway_secret_does_not_start(redis_url):
    from web.app import create_app

    settings = Settings(redis_url=redis_url, jwt_secret=SECRET, preview_gateway_secret="short")
    with pytest.raises(ConfigError, match="KILN_PREVIEW_GATEWAY_SECRET is 5 bytes"):
        create_app(settings)
    create_app(dataclasses.replace(settings, preview_gateway_secret=""))  # none: no gateways


def _children(pid: int) -> dict[int, bytes]:
    cmdlines = dict(read_all("cmdline"))
    found = {}
    for child, stat in read_all("stat"):
        if int(stat.rsplit(b")", 1)[1].split()[1]) == pid:
            found[child] = cmdlines.get(child, b"")
    return found


def _build(web, goal: str) -> dict:
    """A build through web-1's API, waited for until it is READY or FAILED."""
    with web.kiln() as api:
        project = api.post("/api/projects", json={"name": "Worker host"}, headers=auth())
        started = api.post("/api/generation/start", headers=auth(),
                           json={"project_id": project.json()["project_id"], "goal": goal})
        assert started.status_code == 201, started.text
        job_id = started.json()["job_id"]

        def finished() -> dict | None:
            status = api.get(f"/api/generation/{job_id}/status", headers=auth()).json()
            return status if status["status"] in ("ready", "failed") else None

        return wait_for(finished, 120, interval=0.2, message="the build")


def test_a_worker_host_builds_and_serves_its_preview_to_another_hosts_web_app(
        redis_url, kv, broker_r, web, tmp_path):
    """`python -m bin.support.worker_host` as worker-7: its workers build a real app in a
    local sandbox, web-1 serves the preview through worker-7's gateway, and a clean stop ends
    both processes and the gateway's registration."""
    broker_r.flushdb()  # no earlier test's messages for these workers
    sandboxes = tmp_path / "sandboxes"
    env = gateway_env(redis_url, "worker-7", KILN_SANDBOX_ROOT=str(sandboxes))
    with (tmp_path / "host.log").open("ab") as log:
        host = subprocess.Popen([sys.executable, "-m", "bin.support.worker_host",
                                 "--processes", "1", "--threads", "2",
                                 "--worker-shutdown-timeout", "2000"],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = wait_for(lambda: registered(kv, "worker-7"), 60, message="the gateway")
        children = _children(host.pid)
        assert any(b"dramatiq" in cmd for cmd in children.values()), children
        assert any(b"web.gateway" in cmd for cmd in children.values()), children
        assert url.startswith("http://127.0.0.1:")

        status = _build(web, "a todo app")
        assert status["status"] == "ready", status
        job = kv.hgetall(f"kiln:job:{{{status['job_id']}}}")
        assert job["preview_host"] == "worker-7"  # host-bound, on worker-7: not web-1's
        preview = status["preview_url"].removeprefix(web.origin)
        with web.previews(**auth()) as client:
            page = client.get(preview)
            health = client.get(preview + "api/items")
        assert page.status_code == 200 and "todo" in page.text.lower()
        assert health.status_code == 200

        host.send_signal(signal.SIGTERM)
        assert host.wait(30) == 0
        assert registered(kv, "worker-7") is None  # stopped cleanly: unregistered
        assert not any(pid_alive(pid) for pid in children)
        with web.previews(**auth(), Accept="application/json") as client:
            gone = client.get(preview)
        assert gone.status_code == 503 and gone.json()["code"] == "preview_unreachable"
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
        runtime = LocalRuntime(sandboxes)  # the build's sandbox outlives its workers
        for sandbox_id, _ in runtime.list_live():
            runtime.kill(sandbox_id)
