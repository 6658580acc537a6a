"""One local sandbox: a directory on this host (state.json, workspace/, procs/, logs/) whose
commands run inside bubblewrap, or in plain process sessions where bwrap is unusable."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

from domain.errors import Cancelled, SandboxGone
from domain.logs import get_logger

from . import isolation, paths, procs
from .base import MAX_OUTPUT, CancelCheck, CommandResult, asks_cancel
from .output import Tail
from .probe import http_status
from .registry import SandboxRegistry

log = get_logger("kiln.sandbox")
CMD_MARKER = "KILN_SANDBOX_CMD"  # per-command marker: a cancel ends that command's tree only


class LocalSandbox:
    def __init__(self, sandbox_id: str, job_id: str, directory: Path, bwrap: bool,
                 limits: isolation.Limits, registry: SandboxRegistry | None) -> None:
        self.id = sandbox_id
        self.job_id = job_id
        self.directory = directory
        self.workspace = directory / "workspace"
        self.bwrap = bwrap
        self.limits = limits
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
            timeout: float = 60.0, cancel_check: CancelCheck | None = None) -> CommandResult:
        started = time.monotonic()
        name = f"run-{uuid.uuid4().hex[:10]}"
        proc = self._launch(command, cwd, env, name, subprocess.PIPE, foreground=True)
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
            self._end_command(proc, name)
            tail.join()
        if cancelled:
            raise Cancelled(f"command cancelled in sandbox {self.id}")
        return CommandResult(exit_code=proc.returncode, output=tail.text(), timed_out=timed_out,
                             duration_s=round(time.monotonic() - started, 3))

    def start_background(self, command: str, cwd: str = ".",
                         env: dict[str, str] | None = None) -> str:
        name = f"bg-{uuid.uuid4().hex[:10]}"
        (self.directory / "logs").mkdir(exist_ok=True)
        with open(self.directory / "logs" / f"{name}.log", "ab") as out:
            self._launch(command, cwd, env, name, out, foreground=False)
        return name

    def background_output(self, handle: str) -> str:
        """The tail of a background command's output (why a preview did not come up)."""
        if not handle.replace("-", "").isalnum():
            return ""
        try:
            data = (self.directory / "logs" / f"{handle}.log").read_bytes()[-MAX_OUTPUT:]
        except OSError:
            return ""
        return data.decode("utf-8", errors="replace")

    def preview_port(self) -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    def preview_url(self, port: int) -> str:
        return f"http://127.0.0.1:{int(port)}"

    def probe(self, url: str) -> int:
        return http_status(url)

    def kill(self) -> bool:
        return destroy(self.directory, self.id, self._registry)

    # -- internals -----------------------------------------------------------------------
    def _require_alive(self) -> None:
        if not (self.directory / "state.json").is_file():
            raise SandboxGone(f"sandbox {self.id} is gone")

    def _launch(self, command: str, cwd: str, env: dict[str, str] | None, name: str,
                stdout: object, foreground: bool) -> subprocess.Popen[bytes]:
        self._require_alive()
        host_cwd = paths.safe_path(self.workspace, cwd)
        if not host_cwd.is_dir():
            raise FileNotFoundError(f"no directory {cwd!r} in sandbox {self.id}")
        rel = host_cwd.relative_to(self.workspace.resolve()).as_posix()
        extra = dict(env or {}) | {CMD_MARKER: name}
        if self.bwrap:
            inside = isolation.INSIDE_WORKSPACE + ("" if rel == "." else f"/{rel}")
            argv = isolation.bwrap_argv(self.workspace, inside, die_with_parent=foreground)
            run_env = isolation.sandbox_env(self.id, isolation.INSIDE_WORKSPACE, extra)
            popen_cwd = self.workspace
        else:
            argv = []
            run_env = isolation.sandbox_env(self.id, str(self.workspace), extra)
            popen_cwd = host_cwd
        argv += isolation.limit_prefix(self.limits) + ["/bin/sh", "-c", command]
        proc = subprocess.Popen(argv, cwd=popen_cwd, env=run_env, stdin=subprocess.DEVNULL,
                                stdout=stdout, stderr=subprocess.STDOUT,  # type: ignore[arg-type]
                                start_new_session=True, close_fds=True)
        procs.record(self.directory / "procs", name, proc.pid)
        if not (self.directory / "state.json").is_file():
            # Killed while we were launching: kill() may have scanned before this process
            # existed, so end it here rather than leave it running in a dead sandbox.
            self._end_command(proc, name)
            raise SandboxGone(f"sandbox {self.id} was killed")
        return proc

    def _end_command(self, proc: subprocess.Popen[bytes], name: str) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # bwrap: ends the PID namespace too
        for pid in procs.marked(name, key=CMD_MARKER):  # setsid escapees (fallback mode)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()
        procs.forget(self.directory / "procs", name)


def destroy(directory: Path, sandbox_id: str, registry: SandboxRegistry | None) -> bool:
    """End every process of the sandbox, remove its directory and its registration.
    Harmless for a sandbox already gone (returns False)."""
    state = directory / "state.json"
    existed = state.is_file()
    with contextlib.suppress(FileNotFoundError):
        state.unlink()  # first: launches that start from now on refuse (see _launch)
    procs.kill_all(sandbox_id, directory / "procs", cwd_root=directory)
    shutil.rmtree(directory, ignore_errors=True)
    if registry is not None:
        registry.remove(sandbox_id)
    if existed:
        log.info("sandbox_killed", sandbox_id=sandbox_id)
    return existed
