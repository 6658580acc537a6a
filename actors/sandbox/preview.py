"""How the host reaches a local sandbox's preview server, which listens inside a network
namespace of its own where nothing on the host can connect.

The one path in: a unix socket, `<sandbox dir>/preview.sock` (mode 600, in a host-owned
directory the sandbox cannot see; never in the workspace, where sandboxed code could swap it for
a symlink to a host socket that Kiln would then follow). A `socat` that has entered the
server's namespace listens on it and connects each client to the server's port on the
namespace's loopback. `Sandbox.probe` goes through it; so do the web tier's preview proxy and
this host's preview gateway (`LocalSandbox.preview_endpoint()`, docs/previews.md). Browsers
never connect to it: they see Kiln's stable URL. The forwarder is a process of the sandbox (its
cgroups, its pid file): teardown ends it with everything else.

Socket paths can exceed the 108 bytes a unix address holds (deep sandbox roots): socat binds a
relative name in the sandbox directory, and Kiln connects through /proc/self/fd/<dir fd>.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from . import network, procs

SOCKET = "preview.sock"
PORT = 8000  # the app's port inside its own namespace: no other tenant shares it


def expose(directory: Path, ns_pid: int, port: int, prefix: list[str],
           env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start serving `port` of the namespace of `ns_pid` on the sandbox's preview socket
    (`wait_socket` waits for it: the caller starts other helpers meanwhile)."""
    with contextlib.suppress(FileNotFoundError):
        (directory / SOCKET).unlink()  # a previous server's: the new forwarder binds its own
    with network.namespace_fds(ns_pid) as (net, owner), \
            open(directory / "logs" / "preview-socket.log", "ab") as log_file:
        argv = [*prefix, *network.enter_argv(net, owner), _socat(),
                f"UNIX-LISTEN:{SOCKET},fork,mode=600,unlink-early",
                f"TCP:127.0.0.1:{int(port)},connect-timeout=5"]
        return subprocess.Popen(argv, cwd=directory, env=env, stdin=subprocess.DEVNULL,
                                stdout=log_file, stderr=subprocess.STDOUT,
                                pass_fds=(net, owner), start_new_session=True)


def wait_socket(directory: Path, pid: int, timeout_s: float = 5.0) -> None:
    _wait(lambda: (directory / SOCKET).is_socket(), pid, timeout_s, "the preview socket")


def _wait(ready: Callable[[], object], pid: int, timeout_s: float, what: str) -> object:
    end = time.monotonic() + timeout_s
    while True:
        value = ready()
        if value:
            return value
        if not procs.is_alive(pid) or time.monotonic() > end:
            procs.kill_recorded(pid)
            raise OSError(f"{what} did not come up (see the sandbox's logs/preview-*.log)")
        time.sleep(0.002)


def _socat() -> str:
    return shutil.which("socat") or "socat"


def forwarding_tools_present() -> bool:
    return bool(shutil.which("socat") and shutil.which("nsenter"))


def connect_unix(path: Path, timeout_s: float = 2.0) -> socket.socket:
    """A connected unix socket, whatever the length of `path`."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        if len(os.fsencode(path)) < 100:
            sock.connect(os.fspath(path))
        else:
            dir_fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                sock.connect(f"/proc/self/fd/{dir_fd}/{path.name}")
            finally:
                os.close(dir_fd)
    except BaseException:
        sock.close()
        raise
    return sock


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = connect_unix(self._path, self.timeout)  # type: ignore[arg-type]


def http_status(path: Path, target: str, timeout_s: float = 2.0) -> int:
    """The status of GET `target` (a path with its query) on the server behind the socket."""
    conn = _UnixConnection(path, timeout_s)
    try:
        conn.request("GET", target or "/")
        return conn.getresponse().status
    finally:
        conn.close()
