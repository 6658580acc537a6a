"""`bin/dev` as a developer runs it: its own secret that `bin/token` signs with, and children
that die with it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from bin.support.jwt_secret import local_secret
from tests.support.procfs import descendants, read_all
from tests.support.waiting import pid_alive, wait_for
from tests.support.webproc import ROOT, free_port


@dataclass
class Dev:
    process: subprocess.Popen[bytes]
    url: str
    port: int
    data_dir: Path
    env: dict[str, str]


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def bin_dev(tmp_path: Path) -> Iterator[Dev]:
    """`bin/dev` on a free port with its own data dir: its own embedded Redis, workers and web
    app, and no KILN_JWT_SECRET or REDIS_URL from this test run."""
    port = free_port()
    data_dir = tmp_path / "kiln"
    env = {k: v for k, v in os.environ.items() if k not in ("KILN_JWT_SECRET", "REDIS_URL")}
    env.update(KILN_NO_APT="1", PORT=str(port))
    log = (tmp_path / "bin-dev.log").open("ab")
    process = subprocess.Popen([str(ROOT / "bin/dev"), "--data-dir", str(data_dir)], cwd=ROOT,
                               env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    dev = Dev(process, f"http://127.0.0.1:{port}", port, data_dir, env)
    everything: set[int] = set()
    try:
        wait_for(lambda: process.poll() is None and _answers(f"{dev.url}/readyz"), 90,
                 interval=0.1, message="bin/dev to serve")
        everything = descendants(process.pid)
        yield dev
    finally:
        everything |= descendants(process.pid)
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # Ctrl-C: the orderly stop
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
        for pid in everything:  # whatever a failed test left behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        log.close()


def test_bin_token_signs_for_bin_dev_without_a_configured_secret(tmp_path):
    with bin_dev(tmp_path) as dev:
        assert (dev.data_dir / "jwt-secret").stat().st_mode & 0o777 == 0o600
        done = subprocess.run([str(ROOT / "bin/token"), "dev-user", "--tier", "partner",
                               "--data-dir", str(dev.data_dir)], cwd=ROOT, env=dev.env,
                              capture_output=True, text=True, timeout=60, check=True)
        headers = {"Authorization": f"Bearer {done.stdout.strip()}"}
        res = httpx.get(f"{dev.url}/api/usage", headers=headers, timeout=10)
        assert res.status_code == 200 and res.json()["tier"] == "partner"
        # This host's preview gateway started, with a secret of its own kept like the JWT's.
        assert (dev.data_dir / "gateway-secret").stat().st_mode & 0o777 == 0o600
        gateway_log = dev.data_dir / "logs" / "gateway.log"
        wait_for(lambda: gateway_log.exists() and "gateway.started" in gateway_log.read_text(),
                 30, message="bin/dev's preview gateway to start")


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_bin_dev_killed_hard_takes_its_workers_web_and_redis_with_it(tmp_path):
    """The attack on an operator: `bin/dev` killed outright (SIGKILL, a closed terminal) left
    its workers and web server running as orphans holding the port, and its Redis."""
    with bin_dev(tmp_path) as dev:
        # bin/dev execs into its Python half: the pid a terminal or `kill` has is the parent.
        assert b"bin.support.dev" in Path(f"/proc/{dev.process.pid}/cmdline").read_bytes()
        children = descendants(dev.process.pid)
        cmdlines = {pid: cmd.replace(b"\0", b" ") for pid, cmd in read_all("cmdline")
                    if pid in children}
        kinds = [b"redis-server", b"uvicorn web.app:app", b"-m dramatiq actors",
                 b"-m web.gateway"]
        for kind in kinds:
            assert any(kind in cmd for cmd in cmdlines.values()), (kind, cmdlines)
        # The dramatiq CLI's own worker processes too (its children, not bin/dev's).
        workers = [pid for pid, cmd in cmdlines.items() if b"-m dramatiq actors" in cmd]
        assert len(workers) >= 2, cmdlines
        dev.process.kill()
        dev.process.wait(10)
        wait_for(lambda: not [pid for pid in children if pid_alive(pid)], 30, interval=0.1,
                 message="every child of bin/dev to exit")
        wait_for(lambda: _port_free(dev.port), 10, message="the web port to be free")
        assert not (dev.data_dir / "redis" / "redis.sock").exists()  # Redis stopped cleanly


def test_the_local_secret_is_made_once_and_kept_private(tmp_path, monkeypatch):
    monkeypatch.delenv("KILN_JWT_SECRET", raising=False)
    first = local_secret(tmp_path / "a")
    assert len(bytes.fromhex(first)) == 32 and local_secret(tmp_path / "a") == first
    assert (tmp_path / "a" / "jwt-secret").stat().st_mode & 0o777 == 0o600
    assert local_secret(tmp_path / "b") != first  # per machine (data dir), never shared
    assert list((tmp_path / "a").iterdir()) == [tmp_path / "a" / "jwt-secret"]
    monkeypatch.setenv("KILN_JWT_SECRET", "from-the-environment-0123456789abcdef")
    assert local_secret(tmp_path / "a") == "from-the-environment-0123456789abcdef"

