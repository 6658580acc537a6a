"""The preview server is reached through one explicit path: a unix socket in the sandbox's
host-owned directory. Kiln's probe uses it; the browser's loopback port forwards to it."""

from __future__ import annotations

import os
import stat

import httpx
import pytest

from actors.sandbox import preview, procs
from actors.sandbox.probe import PROBE_ERRORS
from tests.sandbox.helpers import needs_bwrap, needs_forwarding
from tests.support.waiting import wait_for

pytestmark = [needs_bwrap, needs_forwarding, pytest.mark.bwrap]

SERVER = "mkdir -p site && echo {text} > site/index.html && python3 -m http.server {port} " \
         "--bind 127.0.0.1 --directory site"


def _serve(sb, text: str) -> str:
    port = sb.preview_port()
    sb.start_background(SERVER.format(text=text, port=port))
    url = sb.preview_url(port)
    wait_for(lambda: _probe(sb, url) == 200, 15, message="the preview server")
    return url


def _probe(sb, url: str) -> int:
    try:
        return sb.probe(url + "/")
    except PROBE_ERRORS:
        return 0


def _get(url: str) -> str | None:
    try:
        return httpx.get(url, timeout=2).text
    except httpx.HTTPError:
        return None


@pytest.fixture
def sb(make_runtime):
    return make_runtime("bwrap").create("job-1", {}, 120)


def test_the_socket_is_the_one_path_and_the_probe_uses_it(sb):
    url = _serve(sb, "hello-socket")
    sock = sb.preview_socket
    assert sb.preview_endpoint() == f"unix:{sock}"
    assert sock.parent == sb.directory and sb.workspace not in sock.parents
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600 and stat.S_ISSOCK(os.stat(sock).st_mode)
    assert _get(url).strip() == "hello-socket"  # the browser's path: loopback TCP -> socket
    # Take the loopback forwarder away: the probe still answers, through the socket.
    procs.kill_recorded(procs.recorded_pid(sb.directory / "procs", "preview-tcp"))
    wait_for(lambda: _get(url) is None, 5, message="the forwarder to stop")
    assert sb.probe(url + "/") == 200
    with preview.connect_unix(sock) as conn:
        conn.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        assert b"hello-socket" in _read_all(conn)
    # preview_url starts a new forwarder when its old one is gone.
    assert _get(sb.preview_url(sb.preview_port())).strip() == "hello-socket"


def test_a_new_preview_server_replaces_the_old_one_on_the_socket(sb):
    url = _serve(sb, "first")
    sb.start_background(SERVER.format(text="second", port=sb.preview_port()))
    wait_for(lambda: (_get(url) or "").strip() == "second", 15, message="the second server")


def test_a_deep_sandbox_root_still_serves_its_socket(make_runtime, tmp_path):
    """A unix address holds 108 bytes; sandbox roots can be longer."""
    from actors.sandbox.local import LocalRuntime

    base = make_runtime("bwrap")
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    runtime = LocalRuntime(deep, base.registry, base.limits, use_bwrap=True)
    sb = runtime.create("job-1", {}, 60)
    try:
        assert len(str(sb.preview_socket)) > 108
        url = _serve(sb, "deep")
        assert _get(url).strip() == "deep"
    finally:
        sb.kill()


def _read_all(conn) -> bytes:
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    return data
