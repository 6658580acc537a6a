"""What this host offers a bwrap sandbox's network namespace, probed once per process with one
real launch (~50 ms) and logged once:

- egress: slirp4netns and nft can give a namespace public egress (a non-root worker may not:
  slirp4netns must enter bwrap's user namespace as uid 0);
- forwarding: the host can enter a namespace (nsenter) and serve it on a socket (socat), which
  previews need.

Without egress, commands that asked for it (installs) run with no network at all: safe, and the
log says why their downloads fail. Without forwarding, preview servers keep the host's network
(today's weaker isolation), also said once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from domain.logs import get_logger

from . import isolation, network, preview
from .handshake import Handshake

log = get_logger("kiln.sandbox")


@dataclass(frozen=True)
class NetSupport:
    egress: bool
    forwarding: bool


_lock = threading.Lock()
_support: NetSupport | None = None


def detect() -> NetSupport:
    global _support
    with _lock:
        if _support is None:
            _support = _probe()
            if not _support.egress:
                log.warning("sandbox_egress_unavailable",
                            detail="slirp4netns/nft cannot give sandbox namespaces a network "
                                   "here: commands that need egress (installs) run offline")
            if not _support.forwarding:
                log.warning("sandbox_preview_forwarding_unavailable",
                            detail="socat/nsenter cannot reach a sandbox namespace here: "
                                   "preview servers share the host's network (weaker isolation)")
        return _support


def _probe() -> NetSupport:
    if not isolation.bwrap_usable():
        return NetSupport(egress=False, forwarding=False)
    env = {"PATH": isolation.BASE_PATH}
    # The probe runs /bin/true: like isolation's own probe it binds /tmp and writes nothing
    # (a temporary directory would outlive a worker killed mid-probe).
    hs = Handshake(hold=True)
    argv = isolation.bwrap_argv(Path("/tmp"), isolation.INSIDE_WORKSPACE, die_with_parent=True,
                                handshake=hs.bwrap_args()) + ["/bin/true"]
    slirp = None
    try:
        proc = subprocess.Popen(argv, env=env, pass_fds=hs.child_fds(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        hs.close()
        return NetSupport(egress=False, forwarding=False)
    try:
        hs.spawned()
        pid = hs.sandbox_pid()
        forwarding = preview.forwarding_tools_present() and _can_enter(pid, env)
        egress = False
        if network.tools_present():
            try:
                slirp = network.attach_egress(pid, hs.exit_r, [], env, Path(os.devnull))
                egress = True
            except OSError as exc:
                log.info("sandbox_egress_probe_failed", error=str(exc)[:300])
    except OSError:
        forwarding = egress = False
    finally:
        hs.release()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if slirp is not None:
            slirp.kill()
            slirp.wait()
        hs.close()
    return NetSupport(egress=egress, forwarding=forwarding)


def _can_enter(pid: int, env: dict[str, str]) -> bool:
    try:
        with network.namespace_fds(pid) as (net, owner):
            done = subprocess.run([*network.enter_argv(net, owner), shutil.which("true") or
                                   "/bin/true"], env=env, pass_fds=(net, owner),
                                  capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0
