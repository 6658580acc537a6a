"""Commands in a local sandbox: results, output bound, timeout, cancel, scrubbed environment."""

import threading

import pytest

from actors.sandbox.base import MAX_OUTPUT
from actors.sandbox.procs import marked
from domain.errors import Cancelled
from domain.keys import Keys
from tests.sandbox.helpers import alive, needs_bwrap, pids_running
from tests.support.waiting import wait_for


def test_exit_code_output_and_cwd(runtime):
    sb = runtime.create("job-1", {}, 60)
    sb.write_files({"sub/f.txt": "x"})
    res = sb.run("ls; echo err >&2; exit 3", cwd="sub", timeout=10)
    assert (res.exit_code, res.ok, res.timed_out) == (3, False, False)
    assert res.output == "f.txt\nerr\n"
    assert sb.run("true", timeout=10).ok


def test_output_is_truncated_keeping_the_tail(runtime):
    sb = runtime.create("job-1", {}, 60)
    res = sb.run("python3 -c \"print('x' * 100000); print('THE-END')\"", timeout=20)
    assert res.ok and len(res.output) <= MAX_OUTPUT
    assert res.output.rstrip().endswith("THE-END") and "truncated" in res.output


def test_timeout_kills_the_command(runtime):
    # The sleep ends by itself in 60 s: a timeout that never fires fails here, not at the
    # suite's timeout. How soon it fires: `bin/bench stops`.
    sb = runtime.create("job-1", {}, 60)
    res = sb.run("echo started; sleep 60.7771", timeout=0.5)
    assert res.timed_out and not res.ok and "started" in res.output
    assert not [p for p in pids_running(["sleep", "60.7771"]) if alive(p)]


def test_cancel_flag_in_redis_kills_the_command(runtime, r):
    # A cancel check that is never heeded ends at the 30 s timeout without Cancelled. How soon
    # a cancel stops the command: `bin/bench stops`.
    sb = runtime.create("job-c", {}, 60)
    flag = Keys("kiln").cancel("job-c")
    threading.Timer(0.5, lambda: r.set(flag, "1")).start()
    with pytest.raises(Cancelled):
        sb.run("sleep 7772 & setsid sleep 7773 & wait", timeout=30,
               cancel_check=lambda: bool(r.exists(flag)))
    leftover = pids_running(["sleep", "7772"]) + pids_running(["sleep", "7773"])
    assert not [p for p in leftover if alive(p)]


def test_host_secrets_never_reach_the_command(runtime, monkeypatch):
    monkeypatch.setenv("FAKE_API_KEY", "sk-kiln-test-secret-123")
    monkeypatch.setenv("KILN_JWT_SECRET", "jwt-test-secret-456")
    sb = runtime.create("job-1", {}, 60)
    res = sb.run("env", env={"GREETING": "hello", "STRIPE_SECRET_KEY": "passed-by-mistake"},
                 timeout=10)
    assert "GREETING=hello" in res.output and "HOME=" in res.output
    for secret in ("sk-kiln-test-secret-123", "jwt-test-secret-456", "passed-by-mistake",
                   "REDIS_URL"):
        assert secret not in res.output


@needs_bwrap
@pytest.mark.bwrap
def test_bwrap_hides_host_files_and_processes(make_runtime, monkeypatch):
    monkeypatch.setenv("FAKE_API_KEY", "sk-kiln-test-secret-789")
    sb = make_runtime("bwrap").create("job-1", {}, 60)
    res = sb.run("cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'; ls /proc | grep -c '^[0-9]'; "
                 "ls /root /work 2>&1; touch /usr/kiln-test 2>&1; pwd", timeout=10)
    assert "sk-kiln-test-secret-789" not in res.output
    assert "No such file" in res.output and "Read-only file system" in res.output
    assert res.output.rstrip().endswith("/workspace")
    # Its own PID namespace: only this command's few processes are visible.
    counts = [int(line) for line in res.output.splitlines() if line.isdigit()]
    assert counts and counts[0] < 10


def test_every_process_carries_the_sandbox_marker(runtime):
    sb = runtime.create("job-1", {}, 60)
    handle = sb.start_background("sleep 7774")
    assert handle.startswith("bg-")
    pids = wait_for(lambda: pids_running(["sleep", "7774"]), message="background sleep")
    assert set(pids) <= set(marked(sb.id))
    sb.kill()
    assert not [p for p in pids if alive(p)]


def test_without_a_system_python_the_hosts_own_interpreter_is_used(runtime, monkeypatch):
    """Hosts whose only python3 lives outside /usr (pyenv, a custom prefix): the sandbox gets
    that interpreter, its prefix bound read-only under bwrap, and its stdlib works."""
    import sys

    from actors.sandbox import isolation

    monkeypatch.setattr(isolation, "system_python", lambda: None)
    sb = runtime.create("job-1", {}, 60)
    code = "import sys, json, http.server, unittest, sqlite3; print(sys.base_prefix)"
    res = sb.run(f"python3 -c '{code}'", timeout=20)
    assert res.ok and res.output.strip() == sys.base_prefix, res.output
    if sb.bwrap:  # (only under bwrap: in a plain session this would write to the host)
        probe = sb.run('touch "$(dirname "$(command -v python3)")/kiln-probe"', timeout=10)
        assert "Read-only file system" in probe.output
