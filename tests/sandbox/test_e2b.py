"""The e2b runtime adapter, tested against a fake with the E2B SDK's surface (tests/sandbox/
fake_e2b.py) because E2B's cloud is unreachable from here. Each SDK call the adapter makes, and
each SDK error it maps to Kiln's errors, is checked; the registry is the real Redis one."""

import threading
import time

import e2b
import httpx
import pytest

from actors.sandbox.e2b import WORKDIR, E2BRuntime
from domain.errors import Cancelled, PathEscape, PermanentError, SandboxGone, TransientError
from tests.sandbox.fake_e2b import CLOUD, FakeSandbox, FakeSDK, Script


@pytest.fixture
def script() -> Script:
    s = Script()
    FakeSandbox.reset(s)
    return s


@pytest.fixture
def rt(registry, script) -> E2BRuntime:
    return E2BRuntime(registry, sdk=FakeSDK, template="kiln-python")


def test_create_passes_metadata_timeout_no_envs_and_registers(rt, script, registry):
    sb = rt.create("job-1", {"user_id": "u1"}, 900)
    name, template, timeout, metadata, envs = script.calls[0]
    assert (name, template, timeout, envs) == ("create", "kiln-python", 900, {})
    assert metadata == {"user_id": "u1", "kiln": "1", "job_id": "job-1"}
    assert ("files.make_dir", WORKDIR) in script.calls
    rec = registry.get(sb.id)
    assert (rec.job_id, rec.runtime, rec.host) == ("job-1", "e2b", "e2b")


@pytest.mark.parametrize("error, kiln_error", [
    (e2b.AuthenticationException("bad key"), PermanentError),
    (e2b.ServiceBusyException("busy"), TransientError),
    (e2b.RateLimitException("slow down"), TransientError),
    (e2b.TimeoutException("deadline"), TransientError),
    (httpx.ConnectTimeout("control plane timeout"), TransientError),
    (httpx.ConnectError("refused"), TransientError),
    (e2b.InvalidArgumentException("bad template"), PermanentError),
])
def test_create_errors_are_mapped(rt, script, registry, error, kiln_error):
    script.raise_on["create"] = error
    with pytest.raises(kiln_error) as caught:
        rt.create("job-1", {}, 60)
    assert not isinstance(caught.value, SandboxGone)
    if kiln_error is PermanentError:
        assert not isinstance(caught.value, TransientError)
    assert registry.all() == []


def test_connect_and_gone(rt):
    sb = rt.create("job-1", {}, 60)
    again = rt.connect(sb.id)
    assert (again.id, again.job_id) == (sb.id, "job-1")
    with pytest.raises(SandboxGone):
        rt.connect("sbx-missing")


def test_files_write_read_and_path_checks(rt, script):
    sb = rt.create("job-1", {}, 60)
    sb.write_files({"app.py": "A", "tests/t.py": "T"})
    assert CLOUD.boxes[sb.id].files.data == {f"{WORKDIR}/app.py": "A",
                                             f"{WORKDIR}/tests/t.py": "T"}
    assert sb.read_file("app.py") == "A"
    with pytest.raises(FileNotFoundError):
        sb.read_file("missing.txt")
    with pytest.raises(PathEscape):
        sb.write_files({"ok.txt": "x", "../etc/passwd": "y"})
    assert f"{WORKDIR}/ok.txt" not in CLOUD.boxes[sb.id].files.data


def test_run_success_failure_and_timeout(rt, script):
    sb = rt.create("job-1", {}, 60)
    script.results["pytest"] = (1, "1 failed\n", "E assert\n")
    script.results["slow"] = e2b.TimeoutException("deadline_exceeded")
    ok = sb.run("echo hi", cwd="sub", env={"A": "1"}, timeout=12)
    assert (ok.exit_code, ok.output, ok.ok) == (0, "ran echo hi\n", True)
    assert ("commands.run", "echo hi", True, {"A": "1"}, f"{WORKDIR}/sub", 12) in script.calls
    failed = sb.run("pytest")
    assert (failed.exit_code, failed.output) == (1, "1 failed\nE assert\n")
    slow = sb.run("slow")
    assert slow.timed_out and not slow.ok


def test_run_on_a_gone_sandbox_raises_gone(rt, script):
    sb = rt.create("job-1", {}, 60)
    script.results["x"] = e2b.exceptions.SandboxNotRunningException("gone")
    with pytest.raises(SandboxGone):
        sb.run("x")
    script.raise_on["commands.run"] = e2b.SandboxNotFoundException("gone")
    with pytest.raises(SandboxGone):
        sb.run("y")


def test_cancel_kills_the_remote_command(rt, script):
    # The fake's command ends by itself after 30 s: a cancel never heeded fails without
    # Cancelled. The adapter polls the flag every 100 ms, like the local runtime, whose cancel
    # latency `bin/bench stops` measures (E2B's own cannot be measured from here).
    sb = rt.create("job-1", {}, 60)
    script.results["sleep 100"] = None  # runs until killed
    flag = threading.Event()
    threading.Timer(0.3, flag.set).start()
    with pytest.raises(Cancelled):
        sb.run("sleep 100", timeout=60, cancel_check=flag.is_set)
    assert CLOUD.boxes[sb.id].commands.handles[-1].killed.is_set()


def test_background_preview_extend_list_and_kill(rt, script, registry):
    sb = rt.create("job-1", {}, 60)
    other = rt.create("job-2", {}, 60)
    handle = sb.start_background("python3 app.py --port 8000")
    assert handle.isdigit()
    assert script.calls[-1][2:] == (True, {}, WORKDIR, 0)  # background, no connection limit
    assert sb.preview_url(sb.preview_port()) == f"https://8000-{sb.id}.e2b.app"
    rt.extend(sb.id, time.time() + 3600)
    assert 3590 <= CLOUD.boxes[sb.id].timeout <= 3600
    listed = rt.list_live()
    assert sorted(i for i, _ in listed) == sorted([sb.id, other.id])
    query = next(c[1] for c in script.calls if c[0] == "list")
    assert isinstance(query, e2b.SandboxQuery) and query.metadata == {"kiln": "1"}
    assert sb.kill() is True
    assert sb.kill() is False  # already gone: harmless
    assert rt.kill("sbx-unknown") is False
    assert registry.get(sb.id) is None and registry.get(other.id) is not None


def test_kill_errors(rt, script):
    sb = rt.create("job-1", {}, 60)
    script.raise_on["kill"] = e2b.SandboxNotFoundException("gone")
    assert rt.kill(sb.id) is False
    script.raise_on["kill"] = httpx.ReadTimeout("slow")
    with pytest.raises(TransientError):
        rt.kill(sb.id)
    script.raise_on["kill"] = e2b.AuthenticationException("revoked")
    with pytest.raises(PermanentError):
        rt.kill(sb.id)
