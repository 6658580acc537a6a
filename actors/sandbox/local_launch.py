"""Launching one command of a local sandbox, and ending it.

The command line, outermost first: the cgroup entry (cgroups.py), bwrap with a network namespace
of the command's own (isolation.py), the rlimits (`prlimit`), then `sh -c <command>`. A command
granted egress is held on bwrap's `--block-fd` until slirp4netns and its nft table are up
(network.py); a background command reports its sandbox pid so the preview socket can enter its
namespace (preview.py). Host-side helpers carry the sandbox's markers and pid files, and run in
its cgroups, so every way of ending the sandbox ends them too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from domain.errors import SandboxGone, TransientError
from domain.logs import get_logger

from . import cgroups, isolation, network, paths, procs, support
from .handshake import Handshake

log = get_logger("kiln.sandbox")
CMD_MARKER = "KILN_SANDBOX_CMD"  # per-command marker: a cancel ends that command's tree only


@dataclass(frozen=True)
class Launched:
    proc: subprocess.Popen[bytes]
    ns_pid: int | None = None  # the first process inside the command's namespaces


@dataclass
class Launcher:
    sandbox_id: str
    directory: Path
    bwrap: bool
    limits: isolation.Limits
    egress_mode: str = "none"  # KILN_SANDBOX_EGRESS as it was when the sandbox was created
    cgroup_paths: dict[str, str] = field(default_factory=dict)

    @property
    def workspace(self) -> Path:
        return self.directory / "workspace"

    @property
    def previews_isolated(self) -> bool:
        """Whether a preview server gets its own namespace, reached through the socket."""
        return self.bwrap and support.detect().forwarding

    def helper_env(self, name: str) -> dict[str, str]:
        """The environment of host-side helpers: the markers teardown scans for."""
        return {"PATH": isolation.BASE_PATH, procs.MARKER: self.sandbox_id, CMD_MARKER: name}

    def entry(self) -> list[str]:
        return cgroups.entry_argv(self.cgroup_paths)

    def launch(self, command: str, cwd: str, env: dict[str, str] | None, name: str,
               stdout: object, foreground: bool, egress: bool = False) -> Launched:
        host_cwd = paths.safe_path(self.workspace, cwd)
        if not host_cwd.is_dir():
            raise FileNotFoundError(f"no directory {cwd!r} in sandbox {self.sandbox_id}")
        rel = host_cwd.relative_to(self.workspace.resolve()).as_posix()
        extra = dict(env or {}) | {CMD_MARKER: name}
        hs: Handshake | None = None
        if self.bwrap:
            isolated_preview = not foreground and self.previews_isolated
            # Without a way to forward its preview, a server keeps the host network (logged
            # once by support.detect); it gets no slirp4netns on top of that.
            share_net = not foreground and not isolated_preview
            egress = (not share_net and network.grants(self.egress_mode, egress)
                      and support.detect().egress)
            if egress or isolated_preview:
                hs = Handshake(hold=egress)
            inside = isolation.INSIDE_WORKSPACE + ("" if rel == "." else f"/{rel}")
            argv = self.entry() + isolation.bwrap_argv(
                self.workspace, inside, die_with_parent=foreground, share_net=share_net,
                resolv_conf=None if share_net else self.directory / "resolv.conf",
                handshake=hs.bwrap_args() if hs else None)
            run_env = isolation.sandbox_env(self.sandbox_id, isolation.INSIDE_WORKSPACE, extra)
            popen_cwd = self.workspace
        else:
            argv = self.entry()
            run_env = isolation.sandbox_env(self.sandbox_id, str(self.workspace), extra)
            popen_cwd = host_cwd
        argv += isolation.limit_prefix(self.limits) + ["/bin/sh", "-c", command]
        try:
            proc = subprocess.Popen(argv, cwd=popen_cwd, env=run_env, stdin=subprocess.DEVNULL,
                                    stdout=stdout, stderr=subprocess.STDOUT,  # type: ignore[arg-type]
                                    start_new_session=True, close_fds=True,
                                    pass_fds=hs.child_fds() if hs else ())
        except BaseException:
            if hs:
                hs.close()
            raise
        procs.record(self.directory / "procs", name, proc.pid)
        if not (self.directory / "state.json").is_file():
            # Killed while we were launching: kill() may have scanned before this process
            # existed, so end it here rather than leave it running in a dead sandbox.
            if hs:
                hs.close()
            self.end(proc, name)
            raise SandboxGone(f"sandbox {self.sandbox_id} was killed")
        if hs is None:
            return Launched(proc)
        try:
            hs.spawned()
            ns_pid = hs.sandbox_pid()
            if hs.hold:
                slirp = network.attach_egress(ns_pid, hs.exit_r, self.entry(),
                                              self.helper_env(name),
                                              self._log(f"net-{name}.log"))
                procs.record(self.directory / "procs", f"{name}.net", slirp.pid)
                hs.release()
        except OSError as exc:
            self.end(proc, name)
            raise TransientError(f"sandbox network setup failed: {exc}") from exc
        finally:
            hs.close()
        return Launched(proc, ns_pid)

    def end(self, proc: subprocess.Popen[bytes], name: str) -> None:
        """End one command: its bwrap (and so its PID namespace), setsid escapees in fallback
        mode, and its helpers (slirp4netns)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in procs.marked(name, key=CMD_MARKER):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()
        procs.forget(self.directory / "procs", name)
        procs.forget(self.directory / "procs", f"{name}.net")

    def _log(self, file_name: str) -> Path:
        (self.directory / "logs").mkdir(exist_ok=True)
        return self.directory / "logs" / file_name
