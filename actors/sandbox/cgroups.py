"""Aggregate limits and a kill switch for a whole local sandbox, through cgroups.

Per-process rlimits cannot bound a sandbox: three processes each under a 4 GiB address-space
limit held 6 GiB, and RLIMIT_NPROC does nothing for root. Each sandbox gets its own cgroup in
every controller this host lets us write (v1 `memory`, `pids`, `cpu`), plus one in the cgroup2
hierarchy whose `cgroup.kill` ends every process in it at once. They live under the worker's own
cgroup (`<own>/kiln/<sandbox id>`), so a container's or a service manager's accounting still
covers them. Commands enter them through a tiny `sh` wrapper that writes its pid into each
`cgroup.procs` and then execs the command: a threaded worker must not use `preexec_fn`.

Where nothing is writable (an unprivileged worker, a container without delegation) `detect()`
says so once in the log and returns no cgroups: the per-process rlimits still apply.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from domain.logs import get_logger

log = get_logger("kiln.sandbox")

V1_CONTROLLERS = ("memory", "pids", "cpu")
UNIFIED = "unified"  # the cgroup2 hierarchy: grouping and cgroup.kill
GROUP = "kiln"  # the directory under the worker's own cgroup that holds the sandboxes'
CFS_PERIOD_US = 100_000


@dataclass(frozen=True)
class Support:
    """Where this process may create sandbox cgroups: controller name -> parent directory."""

    parents: dict[str, Path]

    @property
    def limits(self) -> list[str]:
        return [c for c in V1_CONTROLLERS if c in self.parents]


def _mounts() -> dict[str, tuple[Path, str]]:
    """controller -> (mount point, root of the mount) from /proc/self/mountinfo."""
    found: dict[str, tuple[Path, str]] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        if tail[0] == "cgroup2":
            found.setdefault(UNIFIED, (Path(fields[4]), fields[3]))
        elif tail[0] == "cgroup":
            for option in tail[2].split(","):
                if option in V1_CONTROLLERS:
                    found.setdefault(option, (Path(fields[4]), fields[3]))
    return found


def _own_paths() -> dict[str, str]:
    """controller -> this process's cgroup path, from /proc/self/cgroup."""
    own: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if not controllers:
            own[UNIFIED] = path
        for name in controllers.split(","):
            if name in V1_CONTROLLERS:
                own[name] = path
    return own


def _writable_parent(mount: Path, root: str, own: str) -> Path | None:
    relative = os.path.relpath(own, root) if own.startswith(root) else None
    if relative is None:
        return None  # our cgroup is outside what this mount shows
    parent = (mount / relative / GROUP).resolve()
    try:
        parent.mkdir(exist_ok=True)
        probe = parent / f"probe-{os.getpid()}-{threading.get_ident()}"
        probe.mkdir()
        probe.rmdir()
    except OSError:
        return None
    return parent


def _probe() -> Support:
    try:
        mounts, own = _mounts(), _own_paths()
    except OSError:
        return Support({})
    parents = {}
    for name, (mount, root) in mounts.items():
        if name in own and (parent := _writable_parent(mount, root, own[name])):
            parents[name] = parent
    if UNIFIED in parents and not (parents[UNIFIED] / "cgroup.kill").exists():
        del parents[UNIFIED]  # a kernel before 5.14: the signal loop below does the work
    return Support(parents)


_lock = threading.Lock()
_support: Support | None = None


def detect() -> Support:
    """What this host lets us use; probed once per process and logged once."""
    global _support
    with _lock:
        if _support is None:
            _support = _probe()
            missing = [c for c in (*V1_CONTROLLERS, UNIFIED) if c not in _support.parents]
            if not _support.parents:
                log.warning("sandbox_cgroups_unavailable",
                            detail="no writable cgroup here (unprivileged, or a container "
                                   "without delegation): sandboxes get per-process rlimits "
                                   "only, no aggregate memory/pids/cpu limit")
            else:
                log.info("sandbox_cgroups", controllers=sorted(_support.parents),
                         missing=missing)
        return _support


def plan(support: Support, sandbox_id: str) -> dict[str, str]:
    """Where the sandbox's cgroups go: controller -> directory (record it before `create`, so
    a crash in between leaves nothing teardown cannot find)."""
    return {name: str(parent / sandbox_id) for name, parent in support.parents.items()}


def create(paths: dict[str, str], memory_bytes: int, pids_max: int, cpus: float) -> None:
    """Make the planned cgroups and apply the sandbox's limits."""
    made: dict[str, str] = {}
    try:
        for name, path in paths.items():
            os.mkdir(path)
            made[name] = path
        _write(made, "memory", "memory.limit_in_bytes", memory_bytes)
        with contextlib.suppress(OSError):  # no swap accounting on this kernel: nothing to cap
            _write(made, "memory", "memory.memsw.limit_in_bytes", memory_bytes)
        _write(made, "pids", "pids.max", pids_max)
        _write(made, "cpu", "cpu.shares", max(2, int(1024 * cpus)))
        _write(made, "cpu", "cpu.cfs_period_us", CFS_PERIOD_US)
        _write(made, "cpu", "cpu.cfs_quota_us", max(1000, int(CFS_PERIOD_US * cpus)))
    except OSError:
        remove(made)
        raise


def _write(paths: dict[str, str], controller: str, name: str, value: int) -> None:
    if controller in paths:
        Path(paths[controller], name).write_text(str(value))


def entry_argv(paths: dict[str, str]) -> list[str]:
    """A prefix that moves the command into the sandbox's cgroups before it runs (exit 125 if
    one is gone: the sandbox is being torn down)."""
    if not paths:
        return []
    script = ('while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; '
              'shift; exec "$@"')
    return ["/bin/sh", "-c", script, "kiln-cgroup",
            *(str(Path(p, "cgroup.procs")) for p in paths.values()), "--"]


def pids(paths: dict[str, str]) -> set[int]:
    found: set[int] = set()
    for path in paths.values():
        with contextlib.suppress(OSError, ValueError):
            found.update(int(x) for x in Path(path, "cgroup.procs").read_text().split())
    return found


def kill(paths: dict[str, str], deadline_s: float = 3.0) -> bool:
    """End every process in the sandbox's cgroups; True once none is left."""
    if not paths:
        return True
    if UNIFIED in paths:
        with contextlib.suppress(OSError):
            Path(paths[UNIFIED], "cgroup.kill").write_text("1")
    end = time.monotonic() + deadline_s
    while left := pids(paths):
        for pid in left:  # without cgroup.kill, or a fork that raced it: signal each
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > end:
            return False
        time.sleep(0.005)
    return True


def remove(paths: dict[str, str], deadline_s: float = 2.0) -> bool:
    """Remove the sandbox's cgroup directories (empty ones only: the kernel refuses others)."""
    end = time.monotonic() + deadline_s
    pending = dict(paths)
    while pending:
        for name, path in list(pending.items()):
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError:
                continue  # EBUSY: an exiting process is still accounted here
            del pending[name]
        if not pending or time.monotonic() > end:
            break
        time.sleep(0.005)
    if pending:
        log.warning("sandbox_cgroup_left", paths=sorted(pending.values()))
    return not pending
