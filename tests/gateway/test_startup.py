"""Neither a gateway nor a web app that proxies through gateways starts without a secret long
enough to sign with: each says what to set. A worker host runs its workers and its gateway
together, and a clean stop takes the gateway's registration with it."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys

import pytest

from domain.settings import ConfigError, Settings
from tests.support.gateways import ROOT, gateway_env, registered
from tests.support.procfs import read_all
from tests.support.waiting import pid_alive, wait_for
from tests.web.conftest import SECRET


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


def test_a_worker_host_runs_its_workers_and_its_gateway(redis_url, kv, tmp_path):
    env = gateway_env(redis_url, "worker-7", KILN_SANDBOX_ROOT=str(tmp_path / "sandboxes"))
    with (tmp_path / "host.log").open("ab") as log:
        host = subprocess.Popen([sys.executable, "-m", "bin.support.worker_host",
                                 "--processes", "1", "--threads", "1",
                                 "--worker-shutdown-timeout", "2000"],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = wait_for(lambda: registered(kv, "worker-7"), 60, message="the gateway")
        children = _children(host.pid)
        assert any(b"dramatiq" in cmd for cmd in children.values()), children
        assert any(b"web.gateway" in cmd for cmd in children.values()), children
        assert url.startswith("http://127.0.0.1:")
        host.send_signal(signal.SIGTERM)
        assert host.wait(30) == 0
        assert registered(kv, "worker-7") is None  # stopped cleanly: unregistered
        assert not any(pid_alive(pid) for pid in children)
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
