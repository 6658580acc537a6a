"""Finding and ending every process of a local sandbox, from any process on the host.

Three nets, because each alone misses something:
- pid files in the sandbox directory (one per launched command: pid + kernel start time, so a
  recycled pid is never killed by mistake); with bwrap, killing the launcher ends its whole
  PID namespace;
- the process group of each launched command (fallback mode: start_new_session);
- a /proc scan for the sandbox's environment marker (and, in fallback mode, a cwd inside the
  workspace), which catches grandchildren that called `setsid` and left the group.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

MARKER = "KILN_SANDBOX_ID"


def start_time(pid: int) -> int | None:
    """The kernel's start time of `pid` (field 22 of /proc/pid/stat), None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return int(fields[19])


def is_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (a zombie runs nothing and holds nothing)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return raw[raw.rindex(")") + 2:][:1] not in ("Z", "X")


def record(procs_dir: Path, name: str, pid: int) -> None:
    procs_dir.mkdir(parents=True, exist_ok=True)
    data = {"pid": pid, "start": start_time(pid)}
    tmp = procs_dir / f".{name}.tmp"
    tmp.write_text(json.dumps(data))
    tmp.replace(procs_dir / f"{name}.json")


def forget(procs_dir: Path, name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        (procs_dir / f"{name}.json").unlink()


def recorded_pid(procs_dir: Path, name: str) -> int | None:
    """The pid recorded under `name`, if that process still runs."""
    try:
        data = json.loads((procs_dir / f"{name}.json").read_text())
        pid, start = int(data["pid"]), data.get("start")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid if start is not None and start_time(pid) == start and is_alive(pid) else None


def kill_recorded(pid: int) -> None:
    """SIGKILL a recorded helper and its process group."""
    _signal(pid, group=True)


def recorded(procs_dir: Path) -> list[int]:
    """Recorded pids that still belong to the process that was recorded."""
    pids: list[int] = []
    if not procs_dir.is_dir():
        return pids
    for entry in procs_dir.glob("*.json"):
        try:
            data = json.loads(entry.read_text())
            pid, start = int(data["pid"]), data.get("start")
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if start is not None and start_time(pid) == start:
            pids.append(pid)
    return pids


def marked(sandbox_id: str, cwd_root: Path | None = None, key: str = MARKER) -> list[int]:
    """Pids whose environment carries `key`=`sandbox_id`, or whose cwd is inside `cwd_root`
    (meaningful in fallback mode, where host paths are the sandbox's paths)."""
    needle = f"\0{key}={sandbox_id}\0".encode()
    root = str(cwd_root.resolve()) if cwd_root else None
    me = os.getpid()
    found: list[int] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        pid = int(entry.name)
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                env = b"\0" + fh.read() + b"\0"
            if needle in env:
                found.append(pid)
                continue
            if root:
                cwd = os.readlink(f"/proc/{pid}/cwd")
                if cwd == root or cwd.startswith(root + "/"):
                    found.append(pid)
        except OSError:
            continue  # exited meanwhile, or not ours to read
    return found


def _signal(pid: int, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(pid, signal.SIGKILL)
        os.kill(pid, signal.SIGKILL)


def kill_all(sandbox_id: str, procs_dir: Path, cwd_root: Path | None = None,
             deadline_s: float = 3.0) -> list[int]:
    """SIGKILL every process of the sandbox, re-scanning until a scan finds none alive (a
    process may fork while we kill). Returns the pids signalled."""
    signalled: list[int] = []
    end = time.monotonic() + deadline_s
    while True:
        launchers = recorded(procs_dir)
        for pid in launchers:
            _signal(pid, group=True)
        stray = [pid for pid in marked(sandbox_id, cwd_root) if is_alive(pid)]
        for pid in stray:
            _signal(pid, group=False)
        signalled.extend(launchers + stray)
        if not launchers and not stray:
            return signalled
        if time.monotonic() > end:
            return signalled
        # A killed launcher stays a zombie (its pid file still matches) until its parent
        # reaps it: drop files of dead launchers so the loop can finish.
        _forget_dead(procs_dir)
        time.sleep(0.02)


def _forget_dead(procs_dir: Path) -> None:
    for entry in procs_dir.glob("*.json") if procs_dir.is_dir() else []:
        try:
            pid = int(json.loads(entry.read_text())["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not is_alive(pid):
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
