"""One local sandbox: a directory on this host (state.json, workspace/, procs/, logs/, and the
preview socket) whose commands run inside bubblewrap, or in plain process sessions where bwrap is
unusable; its cgroups, where the host has them, hold every process it owns."""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from domain.errors import Cancelled, SandboxGone, TransientError

from . import paths, preview, procs
from .base import CancelCheck, CommandResult, asks_cancel
from .local_launch import CMD_MARKER, Launcher
from .local_teardown import destroy
from .output import Tail
from .probe import http_status
from .registry import SandboxRegistry

__all__ = ["CMD_MARKER", "LocalSandbox", "destroy"]
_SOCKET_FORWARDER = "preview-socket"


class LocalSandbox:
    def __init__(self, sandbox_id: str, job_id: str, launcher: Launcher,
                 registry: SandboxRegistry | None) -> None:
        self.id = sandbox_id
        self.job_id = job_id
        self.directory = launcher.directory
        self.workspace = launcher.workspace
        self.bwrap = launcher.bwrap
        self.limits = launcher.limits
        self.launcher = launcher
        self._registry = registry

    # -- files ---------------------------------------------------------------------------
    def write_files(self, files: dict[str, str]) -> None:
        self._require_alive()
        for rel in files:  # check every path before writing any: all or nothing
            paths.safe_path(self.workspace, rel)
        for rel, text in files.items():
            paths.write_text(self.workspace, rel, text)

    def read_file(self, path: str) -> str:
        self._require_alive()
        return paths.read_text(self.workspace, path)

    def list_files(self) -> list[str]:
        self._require_alive()
        return paths.list_files(self.workspace)

    # -- commands ------------------------------------------------------------------------
    def run(self, command: str, cwd: str = ".", env: dict[str, str] | None = None,
            timeout: float = 60.0, cancel_check: CancelCheck | None = None,
            egress: bool = False) -> CommandResult:
        started = time.monotonic()
        name = f"run-{uuid.uuid4().hex[:10]}"
        self._require_alive()
        proc = self.launcher.launch(command, cwd, env, name, subprocess.PIPE, foreground=True,
                                    egress=egress).proc
        tail = Tail(proc.stdout)
        timed_out = cancelled = False
        try:
            while True:
                try:
                    proc.wait(timeout=0.1)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if cancel_check is not None and asks_cancel(cancel_check):
                    cancelled = True
                    break
                if time.monotonic() - started > timeout:
                    timed_out = True
                    break
        finally:
            # On every way out (done, cancel, timeout, an exception here) nothing of this
            # command outlives the call: background work belongs in start_background.
            self.launcher.end(proc, name)
            tail.join()
        if cancelled:
            raise Cancelled(f"command cancelled in sandbox {self.id}")
        return CommandResult(exit_code=proc.returncode, output=tail.text(), timed_out=timed_out)

    def start_background(self, command: str, cwd: str = ".",
                         env: dict[str, str] | None = None) -> str:
        """Start the app's server. In its own network namespace, its port `preview_port()` is
        served on the sandbox's preview socket (a later server replaces an earlier one there)."""
        name = f"bg-{uuid.uuid4().hex[:10]}"
        self._require_alive()
        (self.directory / "logs").mkdir(exist_ok=True)
        with open(self.directory / "logs" / f"{name}.log", "ab") as out:
            launched = self.launcher.launch(command, cwd, env, name, out, foreground=False)
        if launched.ns_pid is not None:
            self._stop_helper(_SOCKET_FORWARDER)
            try:
                helper = preview.expose(self.directory, launched.ns_pid, preview.PORT,
                                        self.launcher.entry(),
                                        self.launcher.helper_env(_SOCKET_FORWARDER))
                procs.record(self.directory / "procs", _SOCKET_FORWARDER, helper.pid)
                preview.wait_socket(self.directory, helper.pid)
            except OSError as exc:
                raise TransientError(f"preview forwarding failed: {exc}") from exc
        return name

    # -- preview -------------------------------------------------------------------------
    @property
    def preview_socket(self) -> Path | None:
        """The unix socket a preview is served on, or None where the server shares the host's
        network (no bwrap, or no socat/nsenter) and its loopback port is its address."""
        return self.directory / preview.SOCKET if self.launcher.previews_isolated else None

    def preview_endpoint(self) -> str | None:
        """`unix:<path>` of the preview socket (for a proxy), or None (see preview_socket)."""
        sock = self.preview_socket
        return f"unix:{sock}" if sock else None

    def preview_port(self) -> int:
        if self.launcher.previews_isolated:
            return preview.PORT
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    def preview_url(self, port: int) -> str:
        """Where this host reaches the app (its upstream, domain/preview.py): the preview
        socket (`unix:<path>`), or its loopback port where it shares the host's network.
        Browsers see Kiln's stable URL, which the web tier (or this host's preview gateway)
        forwards here (docs/previews.md)."""
        return self.preview_endpoint() or f"http://127.0.0.1:{int(port)}"

    def probe(self, url: str) -> int:
        """`url` is `preview_url()` followed by a path (and query)."""
        sock = self.preview_socket
        if sock is None:
            return http_status(url)
        base = f"unix:{sock}"
        if not url.startswith(base):
            raise ValueError(f"not this sandbox's preview: {url!r}")
        parts = urlsplit(url[len(base):])
        return preview.http_status(sock, (parts.path or "/") + (f"?{parts.query}"
                                                               if parts.query else ""))

    def kill(self) -> bool:
        return destroy(self.directory, self.id, self._registry)

    # -- internals -----------------------------------------------------------------------
    def _require_alive(self) -> None:
        if not (self.directory / "state.json").is_file():
            raise SandboxGone(f"sandbox {self.id} is gone")

    def _stop_helper(self, name: str) -> None:
        pid = procs.recorded_pid(self.directory / "procs", name)
        if pid is not None:
            procs.kill_recorded(pid)
        procs.forget(self.directory / "procs", name)
