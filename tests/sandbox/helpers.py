"""Helpers for sandbox tests that look at the host's processes without Kiln's own code."""

from __future__ import annotations

import os
import shutil

import pytest

from actors.sandbox import cgroups, support
from actors.sandbox.isolation import bwrap_usable

NO_BWRAP = "bubblewrap (bwrap) is not installed or cannot create namespaces on this host"
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None or not bwrap_usable(),
                                 reason=NO_BWRAP)
MODES = [pytest.param("bwrap", marks=[needs_bwrap, pytest.mark.bwrap]), "session"]
needs_egress = pytest.mark.skipif(
    not support.detect().egress,
    reason="slirp4netns/nft cannot give a sandbox namespace egress here (not installed, or an "
           "unprivileged worker); sandboxed commands then run offline")
needs_forwarding = pytest.mark.skipif(
    not support.detect().forwarding,
    reason="socat/nsenter are missing or cannot enter a sandbox namespace: previews share the "
           "host network")
needs_cgroups = pytest.mark.skipif(
    not {"memory", "pids"} <= set(cgroups.detect().limits) or cgroups.UNIFIED not in
    cgroups.detect().parents,
    reason="no writable cgroup v1 memory/pids controllers or cgroup2 hierarchy here "
           "(unprivileged, or a container without delegation)")


def pids_running(argv: list[str]) -> list[int]:
    """Host pids whose command line is exactly `argv` (read from /proc, not from Kiln)."""
    want = "\0".join(argv).encode() + b"\0"
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as fh:
                    if fh.read() == want:
                        found.append(int(name))
            except OSError:
                continue
    return found


def alive(pid: int) -> bool:
    """Running, not a zombie (this container's init may never reap orphans)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")
