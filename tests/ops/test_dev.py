"""`bin/dev` as a developer runs it: its own secret that `bin/token` signs with."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from bin.support.jwt_secret import local_secret
from tests.support.procfs import descendants
from tests.support.waiting import wait_for
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


def test_the_local_secret_is_made_once_and_kept_private(tmp_path, monkeypatch):
    monkeypatch.delenv("KILN_JWT_SECRET", raising=False)
    first = local_secret(tmp_path / "a")
    assert len(bytes.fromhex(first)) == 32 and local_secret(tmp_path / "a") == first
    assert (tmp_path / "a" / "jwt-secret").stat().st_mode & 0o777 == 0o600
    assert local_secret(tmp_path / "b") != first  # per machine (data dir), never shared
    assert list((tmp_path / "a").iterdir()) == [tmp_path / "a" / "jwt-secret"]
    monkeypatch.setenv("KILN_JWT_SECRET", "from-the-environment-0123456789abcdef")
    assert local_secret(tmp_path / "a") == "from-the-environment-0123456789abcdef"

