"""kill() ends every process of a sandbox: background shells, their children, and grandchildren
that called setsid (which a process-group kill misses), also when called from another process."""

import subprocess
import sys
from pathlib import Path

from tests.sandbox.helpers import alive, pids_running
from tests.support.waiting import wait_for

SCRIPT = ("sleep {a} & "
          "setsid sh -c 'sleep {b} & exec sleep {c}' & "
          "echo up > up.txt; wait")


def _start(sb, base: int) -> list[list[str]]:
    sb.start_background(SCRIPT.format(a=base, b=base + 1, c=base + 2))
    argvs = [["sleep", str(base + i)] for i in range(3)]
    wait_for(lambda: all(pids_running(a) for a in argvs), message="sandbox processes")
    return argvs


def test_kill_ends_background_tree_and_setsid_grandchildren(runtime):
    sb = runtime.create("job-1", {}, 60)
    argvs = _start(sb, 7780)
    pids = [p for a in argvs for p in pids_running(a)]
    assert all(alive(p) for p in pids)
    assert sb.kill() is True
    assert not [p for p in pids if alive(p)]
    assert not sb.directory.exists()


def test_kill_from_another_process(runtime, redis_url):
    sb = runtime.create("job-1", {}, 60)
    argvs = _start(sb, 7790)
    pids = [p for a in argvs for p in pids_running(a)]
    code = ("import sys; from pathlib import Path; from actors.sandbox.local import LocalRuntime;"
            "print(LocalRuntime(Path(sys.argv[1]), use_bwrap=False).kill(sys.argv[2]))")
    root = str(Path(__file__).resolve().parents[2])
    done = subprocess.run([sys.executable, "-c", code, str(runtime.root), sb.id], cwd=root,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "True"
    assert not [p for p in pids if alive(p)]


def test_a_finished_foreground_command_leaves_nothing_behind(runtime):
    sb = runtime.create("job-1", {}, 60)
    res = sb.run("sleep 7799 & setsid sleep 7798 & echo done", timeout=10)
    assert res.ok and "done" in res.output
    leftover = pids_running(["sleep", "7799"]) + pids_running(["sleep", "7798"])
    assert not [p for p in leftover if alive(p)]


def test_a_launch_racing_a_kill_does_not_survive_it(runtime, monkeypatch):
    """kill() may scan just before a command starts; the launch sees the sandbox is dead and
    ends what it started."""
    import pytest

    from actors.sandbox import local_sandbox
    from domain.errors import SandboxGone

    sb = runtime.create("job-1", {}, 60)
    real_record = local_sandbox.procs.record

    def record_then_kill(procs_dir, name, pid):
        real_record(procs_dir, name, pid)
        (sb.directory / "state.json").unlink()  # what a concurrent kill() does first

    monkeypatch.setattr(local_sandbox.procs, "record", record_then_kill)
    with pytest.raises(SandboxGone):
        sb.start_background("sleep 7797")
    assert not [p for p in pids_running(["sleep", "7797"]) if alive(p)]
