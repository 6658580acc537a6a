"""Limits hold for the sandbox as a whole (its cgroups), not per process: a fork storm stops at
the pids cap, several processes together cannot pass the memory cap, and nothing a sandbox
started, daemons that left its session and cleared their environment included, outlives its
teardown; neither do its cgroups or its host-side helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import structlog

from actors.sandbox import cgroups
from actors.sandbox.isolation import Limits
from tests.sandbox.helpers import MODES, alive, needs_cgroups, pids_running
from tests.support.waiting import wait_for

pytestmark = [needs_cgroups]

SMALL = Limits(memory_bytes=4 * 1024**3, sandbox_memory_bytes=160 * 1024**2, pids_max=48)


@pytest.fixture(params=MODES)
def sb(request, make_runtime):
    return make_runtime(request.param, limits=SMALL).create("job-1", {}, 120)


def _groups(sb) -> dict[str, str]:
    return sb.launcher.cgroup_paths


def test_a_fork_storm_stops_at_the_pids_cap(sb):
    res = sb.run("for i in $(seq 300); do sleep 7801 & done; echo all-started", timeout=60)
    assert "all-started" not in res.output and "fork" in res.output.lower(), res.output
    events = Path(_groups(sb)["pids"], "pids.events").read_text()
    assert int(events.split()[-1]) > 0, events  # forks were refused at the cap
    assert not [p for p in pids_running(["sleep", "7801"]) if alive(p)]


_HOLDERS = """
import os, subprocess, sys, time
child = "b = b'x' * (100 * 1024**2); open('held-%d' % os.getpid(), 'w').close(); time.sleep(30)"
kids = [subprocess.Popen([sys.executable, '-c', child]) for _ in range(3)]
end = time.time() + 30
# Wait until every child either holds its 100 MiB or is dead, then count the holders.
while time.time() < end and not all(k.poll() is not None or os.path.exists('held-%d' % k.pid)
                                    for k in kids):
    time.sleep(0.05)
print('holding', sum(k.poll() is None for k in kids), flush=True)
for k in kids:
    k.kill()
"""


def test_memory_is_capped_across_processes(sb):
    """Three processes of 100 MiB each, every one well under its own address-space limit,
    together over the sandbox's 160 MiB: they never all hold their memory at once."""
    sb.write_files({"holders.py": _HOLDERS})
    res = sb.run("python3 holders.py", timeout=60)
    holding = int(res.output.split("holding")[1].split()[0])
    assert holding < 3, res.output
    oom = Path(_groups(sb)["memory"], "memory.oom_control").read_text().split()
    assert int(oom[oom.index("oom_kill") + 1]) > 0  # the sandbox's cgroup did the killing


def test_teardown_leaves_no_daemon_helper_or_cgroup(sb, make_runtime):
    # A daemon that double-forks out of the session and clears its environment (so no
    # marker finds it): only the sandbox's cgroup (or bwrap's PID namespace) still holds it.
    sb.start_background("env -i setsid sh -c 'sleep 7802 & exit 0'; exec sleep 7803")
    daemons = wait_for(lambda: pids_running(["sleep", "7802"]), message="the daemon")
    port = sb.preview_port()
    url = sb.preview_url(port)
    groups = dict(_groups(sb))
    in_group = cgroups.pids(groups)
    assert set(daemons) <= in_group
    helpers = [pid for pid in in_group if _comm(pid) in ("socat", "slirp4netns")]
    if sb.preview_socket is not None:
        assert helpers, "the preview forwarders run in the sandbox's cgroups"
    assert sb.kill() is True
    assert not [p for p in in_group if alive(p)]
    for path in groups.values():
        assert not Path(path).exists(), f"cgroup {path} left behind"
    assert not sb.directory.exists()  # and the preview socket in it
    if url.startswith("http://127.0.0.1:"):  # a preview on the host's network: its port
        assert not _listening(int(url.rsplit(":", 1)[1]))


def test_a_reaper_kill_from_another_runtime_removes_the_cgroups(sb, make_runtime):
    sb.start_background("sleep 7804")
    wait_for(lambda: pids_running(["sleep", "7804"]), message="the background sleep")
    groups = dict(_groups(sb))
    other = make_runtime("session")  # another process's view of the same root
    assert other.kill(sb.id) is True
    assert not [p for p in pids_running(["sleep", "7804"]) if alive(p)]
    assert not any(Path(p).exists() for p in groups.values())


def test_without_cgroups_the_sandbox_works_and_says_so_once(monkeypatch, make_runtime):
    monkeypatch.setattr(cgroups, "_support", None)
    monkeypatch.setattr(cgroups, "_mounts", lambda: {})  # as in a container without delegation
    with structlog.testing.capture_logs() as logs:
        first, second = make_runtime("session"), make_runtime("session")
    assert [e["event"] for e in logs].count("sandbox_cgroups_unavailable") == 1
    assert first.cgroups.parents == {} and second.cgroups.parents == {}
    sb = first.create("job-1", {}, 60)
    assert sb.launcher.cgroup_paths == {}
    assert sb.run("echo works", timeout=10).output == "works\n"
    sb.start_background("setsid sleep 7805")
    pids = wait_for(lambda: pids_running(["sleep", "7805"]), message="the background sleep")
    assert sb.kill() is True  # the pid files and markers still find everything
    assert not [p for p in pids if alive(p)]
    monkeypatch.setattr(cgroups, "_support", None)  # the next test probes the real host again


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _listening(port: int) -> bool:
    hexport = f":{port:04X}"
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return any(r.split()[1].endswith(hexport) and r.split()[3] == "0A" for r in rows)


def test_the_cgroup_parent_is_under_the_workers_own_cgroup():
    """Sandboxes stay inside the worker's own cgroup, so a container's or service manager's
    accounting (and limits) still cover them."""
    own = {line.split(":")[1]: line.split(":", 2)[2]
           for line in Path("/proc/self/cgroup").read_text().splitlines()}
    for name, parent in cgroups.detect().parents.items():
        key = "" if name == cgroups.UNIFIED else name
        own_path = next(v for k, v in own.items() if key in k.split(",") or k == key)
        assert str(parent).endswith(os.path.join(own_path, cgroups.GROUP).replace("//", "/"))
