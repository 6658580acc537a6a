"""Sandboxed code holds no capability: run as root (bin/dev, CI, a root-run image), bwrap would
otherwise leave it every one, and its read-only binds would be read-only only until it remounts
them. Each attempt below is what a hostile app would try; each must be refused, and nothing
outside the workspace may change."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tests.sandbox.helpers import needs_bwrap

pytestmark = [needs_bwrap, pytest.mark.bwrap]

# Each line prints "<name>=allowed" or "<name>=refused"; what failed is in the output too.
ATTEMPTS = {
    "remount_usr": "mount -o remount,bind,rw /usr && echo x > /usr/{marker}",
    "mount_tmpfs": "mkdir -p mnt && mount -t tmpfs none mnt",
    "bind_mount": "mkdir -p mnt2 && mount --bind /usr mnt2",
    "mknod": "mknod devnull c 1 3",
    "chown": "touch owned && chown 65534:65534 owned",
    "raise_rlimit": "ulimit -H -v unlimited",
    "unshare_user": "unshare --user true",
    "unshare_mount": "unshare --mount true",
    "unshare_net": "unshare --net true",
    "chroot": "/usr/sbin/chroot / true",
}


def _script(marker: str) -> str:
    # A refusal must come from the kernel, not from a missing tool: errors go to the output.
    lines = [f"if ( {cmd.format(marker=marker)} ) >/dev/null; then echo {name}=allowed; "
             f"else echo {name}=refused; fi" for name, cmd in ATTEMPTS.items()]
    lines.append("grep '^CapEff:' /proc/self/status; grep '^CapBnd:' /proc/self/status")
    return "\n".join(lines)


@pytest.fixture
def sb(make_runtime):
    return make_runtime("bwrap").create("job-1", {}, 60)


def test_capability_uses_are_refused_and_the_host_is_untouched(sb):
    marker = f"kiln-remount-test-{uuid.uuid4().hex[:8]}"
    usr_before = sorted(os.listdir("/usr"))
    try:
        res = sb.run(_script(marker), timeout=30)
        outcome = dict(line.split("=", 1) for line in res.output.splitlines() if "=" in line)
        assert outcome == {name: "refused" for name in ATTEMPTS}, res.output
        assert "not found" not in res.output and "No such file" not in res.output, res.output
        assert "CapEff:\t0000000000000000" in res.output
        assert "CapBnd:\t0000000000000000" in res.output  # no way to regain one either
    finally:
        leaked = Path("/usr") / marker
        if leaked.exists():  # clean the host even when the fix regressed, then fail
            leaked.unlink()
            pytest.fail(f"sandboxed code wrote {leaked} on the host")
    assert sorted(os.listdir("/usr")) == usr_before
    # Inside the workspace, nothing the refused calls would have made exists.
    assert not (sb.workspace / "devnull").exists()
    owned = sb.workspace / "owned"
    assert owned.stat().st_uid == os.getuid()


def test_the_workspace_stays_usable_without_capabilities(sb):
    """Dropping capabilities keeps what builds do: write files, make a venv, run Python."""
    res = sb.run("python3 -m venv .venv && .venv/bin/python -c 'print(40 + 2)' > out.txt "
                 "&& cat out.txt", timeout=60)
    assert res.ok, res.output
    assert res.output.strip().endswith("42")
    assert (sb.workspace / "out.txt").stat().st_uid == os.getuid()
