"""Ending a local sandbox from any process on this host: its cgroups first (one write ends every
process in them), then the pid files and marker scan (sandboxes without cgroups, and anything
that slipped out), then its cgroups, its directory and its registration."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

from domain.logs import get_logger

from . import cgroups, procs
from .registry import SandboxRegistry

log = get_logger("kiln.sandbox")


def destroy(directory: Path, sandbox_id: str, registry: SandboxRegistry | None) -> bool:
    """End every process of the sandbox (its cgroups first: one write ends them all), remove its
    cgroups, its directory and its registration. Harmless for a sandbox already gone (False)."""
    state = directory / "state.json"
    existed = state.is_file()
    with contextlib.suppress(FileNotFoundError):
        state.unlink()  # first: launches that start from now on refuse (see Launcher.launch)
    groups = read_cgroups(directory, sandbox_id)
    cgroups.kill(groups)
    procs.kill_all(sandbox_id, directory / "procs", cwd_root=directory)
    if not cgroups.remove(groups):
        # A process the kernel has not let go of yet: keep cgroups.json and the registration,
        # so the reaper's next kill of this id finds the cgroups again.
        for entry in directory.iterdir():
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.name != "cgroups.json":
                entry.unlink(missing_ok=True)
        return existed
    shutil.rmtree(directory, ignore_errors=True)
    if registry is not None:
        registry.remove(sandbox_id)
    if existed:
        log.info("sandbox_killed", sandbox_id=sandbox_id)
    return existed


def read_cgroups(directory: Path, sandbox_id: str) -> dict[str, str]:
    """The sandbox's cgroups (written at create). Only its own: a path that does not end in
    its id under /sys/fs/cgroup is ignored."""
    try:
        data = json.loads((directory / "cgroups.json").read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items()
            if Path(str(v)).name == sandbox_id and str(v).startswith("/sys/fs/cgroup/")}
