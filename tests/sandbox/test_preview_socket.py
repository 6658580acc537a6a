"""The preview server is reached through one explicit path: a unix socket in the sandbox's
host-owned directory, which is the sandbox's preview URL (its upstream). Kiln's probe uses it,
as do the web tier and the preview gateway; nothing listens for it on the host's TCP ports."""

from __future__ import annotations

import os
import stat

import httpx
import pytest

from actors.sandbox import preview, procs
from actors.sandbox.probe import PROBE_ERRORS
from tests.sandbox.helpers import needs_bwrap, needs_forwarding
from tests.support.procfs import descendants
from tests.support.waiting import wait_for
from web.preview.targets import fetch

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
        return fetch(url, "/", timeout=2).text
    except httpx.HTTPError:
        return None


@pytest.fixture
def sb(make_runtime):
    return make_runtime("bwrap").create("job-1", {}, 120)


def test_the_socket_is_the_one_path_and_the_probe_uses_it(sb):
    url = _serve(sb, "hello-socket")
    sock = sb.preview_socket
    assert url == sb.preview_endpoint() == f"unix:{sock}"
    assert sock.parent == sb.directory and sb.workspace not in sock.parents
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600 and stat.S_ISSOCK(os.stat(sock).st_mode)
    assert _get(url).strip() == "hello-socket"  # the web tier's path: the socket
    assert sb.probe(url + "/") == 200
    with preview.connect_unix(sock) as conn:
        conn.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        assert b"hello-socket" in _read_all(conn)
    # No loopback TCP forwarder: one socket forwarder is the sandbox's only helper for it.
    assert procs.recorded_pid(sb.directory / "procs", "preview-tcp") is None
    forwarder = procs.recorded_pid(sb.directory / "procs", "preview-socket")
    assert not _tcp_listeners({forwarder, *descendants(forwarder)})


def _tcp_listeners(pids: set[int]) -> set[str]:
    """Inodes of listening TCP sockets held by `pids`."""
    held = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                held.add(target[8:-1])
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in rows.readlines()[1:]:
                fields = row.split()
                if fields[3] == "0A":  # LISTEN
                    listening.add(fields[9])
    return held & listening


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
