"""How the local runtime launches a command: bubblewrap when it works here, else a plain process
session; resource limits set by `prlimit` inside the launched command (never `preexec_fn`: the
worker is threaded); an environment built from scratch so no host secret reaches the sandbox."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from domain.logs import get_logger
from domain.settings import is_secret_env

from .procs import MARKER

log = get_logger("kiln.sandbox")

INSIDE_WORKSPACE = "/workspace"  # where the workspace appears inside bwrap
BASE_PATH = "/usr/local/bin:/usr/bin:/bin"

# Read-only bits of /etc that programs need (DNS, TLS roots, users, the dynamic linker);
# not the whole of /etc, which can hold host credentials.
_ETC = ["/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
        "/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/passwd", "/etc/group",
        "/etc/ssl", "/etc/ca-certificates", "/etc/localtime", "/etc/mime.types", "/etc/host.conf",
        "/etc/gai.conf"]


@dataclass(frozen=True)
class Limits:
    """Per-process rlimits (each process inherits them), and the whole sandbox's limits that
    its cgroups enforce where this host lets Kiln create them (see cgroups.py)."""

    cpu_s: int = 300
    memory_bytes: int = 4 * 1024**3  # address space; generous because runtimes reserve a lot
    file_bytes: int = 512 * 1024**2
    sandbox_memory_bytes: int = 2 * 1024**3  # resident memory of all its processes together
    pids_max: int = 512  # processes and threads together
    cpus: float = 1.0  # a hard CPU cap (CFS quota), and its share weight against other sandboxes

    @classmethod
    def from_env(cls) -> Limits:
        env = os.environ
        return cls(cpu_s=int(env.get("KILN_SANDBOX_CPU_S") or cls.cpu_s),
                   memory_bytes=int(env.get("KILN_SANDBOX_MEMORY_BYTES") or cls.memory_bytes),
                   file_bytes=int(env.get("KILN_SANDBOX_FILE_BYTES") or cls.file_bytes),
                   sandbox_memory_bytes=int(env.get("KILN_SANDBOX_TOTAL_MEMORY_BYTES")
                                            or cls.sandbox_memory_bytes),
                   pids_max=int(env.get("KILN_SANDBOX_PIDS_MAX") or cls.pids_max),
                   cpus=float(env.get("KILN_SANDBOX_CPUS") or cls.cpus))


def limit_prefix(limits: Limits) -> list[str]:
    prlimit = shutil.which("prlimit")
    if prlimit:
        return [prlimit, f"--cpu={limits.cpu_s}", f"--as={limits.memory_bytes}",
                f"--fsize={limits.file_bytes}", "--"]
    # No util-linux: the shell's ulimit sets the same three limits (-v and -f in KiB / 512 B;
    # one limit per call, as dash wants).
    script = (f"ulimit -t {limits.cpu_s} && ulimit -v {limits.memory_bytes // 1024} && "
              f"ulimit -f {limits.file_bytes // 512} && exec \"$@\"")
    return ["/bin/sh", "-c", script, "kiln-limits"]


def system_python() -> str | None:
    return shutil.which("python3", path=BASE_PATH)


def python_dir() -> str | None:
    """A directory to put first on PATH when the system has no /usr/bin/python3: the real
    interpreter behind this process (a pyenv shim would not work with HOME=workspace).
    Under bwrap its installation prefix is bound read-only (see bwrap_argv)."""
    if system_python():
        return None
    real = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    return os.path.dirname(real)


def sandbox_env(sandbox_id: str, home: str, extra: dict[str, str] | None) -> dict[str, str]:
    """A fresh environment: PATH, HOME, LANG, the sandbox marker, and the caller's variables.
    Secret-looking names are dropped even when the caller passes them."""
    pydir = python_dir()
    env = {"PATH": f"{pydir}:{BASE_PATH}" if pydir else BASE_PATH, "HOME": home,
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONUNBUFFERED": "1", "TMPDIR": "/tmp"}
    for key, value in (extra or {}).items():
        if not is_secret_env(key):
            env[key] = str(value)
    env[MARKER] = sandbox_id
    return env


# Run as root, bwrap keeps every capability inside the sandbox: code there could remount a
# read-only bind read-write and write the host's /usr. No capability at all, in a user namespace
# of its own that cannot create further namespaces (so none can be regained through one).
NO_PRIVILEGE = ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]


def bwrap_argv(workspace: Path, cwd_inside: str, *, die_with_parent: bool,
               share_net: bool = False, resolv_conf: Path | None = None,
               handshake: list[str] | None = None) -> list[str]:
    """`share_net=False` (the norm): a network namespace of the command's own, see network.py.
    A background command (the preview server) is not tied to its launching thread
    (`die_with_parent` follows the thread, not the process): teardown ends it."""
    argv = [shutil.which("bwrap") or "bwrap", "--unshare-all", "--new-session", *NO_PRIVILEGE]
    if share_net:
        argv.append("--share-net")
    if die_with_parent:
        argv.append("--die-with-parent")
    argv += handshake or []
    argv += ["--ro-bind", "/usr", "/usr"]
    for link in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink(f"/{link}"):
            argv += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
        elif os.path.isdir(f"/{link}"):
            argv += ["--ro-bind", f"/{link}", f"/{link}"]
    for path in _ETC + sorted(glob.glob("/etc/python3*")):
        # In its own network namespace a command's resolver is slirp4netns's, not the host's.
        source = str(resolv_conf) if resolv_conf and path == "/etc/resolv.conf" else path
        argv += ["--ro-bind-try", source, path]
    pydir = python_dir()
    if pydir and not pydir.startswith("/usr/"):
        prefix = os.path.realpath(sys.base_prefix)
        argv += ["--ro-bind", prefix, prefix]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
             "--bind", str(workspace), INSIDE_WORKSPACE, "--chdir", cwd_inside]
    return argv + ["--"]


_probe_lock = threading.Lock()
_probe: bool | None = None


def bwrap_usable() -> bool:
    """Whether bwrap exists and can create its namespaces here (containers may forbid it).
    Probed once per process; the fallback is logged once."""
    global _probe
    with _probe_lock:
        if _probe is None:
            _probe = _try_bwrap()
            if not _probe:
                log.warning("sandbox_bwrap_unavailable",
                            detail="bubblewrap is missing or cannot create namespaces here; "
                                   "local sandboxes run in plain process sessions "
                                   "(weaker isolation)")
        return _probe


def _try_bwrap() -> bool:
    if shutil.which("bwrap") is None:
        return False
    probe_dir = Path("/tmp")
    argv = bwrap_argv(probe_dir, INSIDE_WORKSPACE, die_with_parent=True) + ["/bin/true"]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=10, env={"PATH": BASE_PATH})
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0
