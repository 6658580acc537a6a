"""Choosing the isolation: without a usable bwrap the runtime falls back and says so once."""

import structlog

from actors.sandbox import isolation
from actors.sandbox.local import LocalRuntime


def test_missing_bwrap_falls_back_to_sessions_and_logs_once(monkeypatch, tmp_path):
    real_which = isolation.shutil.which
    monkeypatch.setattr(isolation.shutil, "which",
                        lambda name, **kw: None if name == "bwrap" else real_which(name, **kw))
    monkeypatch.setattr(isolation, "_probe", None)
    with structlog.testing.capture_logs() as logs:
        first = LocalRuntime(tmp_path / "a")
        second = LocalRuntime(tmp_path / "b")
    assert (first.use_bwrap, second.use_bwrap) == (False, False)
    assert [e["event"] for e in logs].count("sandbox_bwrap_unavailable") == 1
    sb = first.create("job-1", {}, 60)
    assert sb.run("echo works", timeout=10).output == "works\n"
    sb.kill()


def test_limits_are_set_inside_the_launched_command():
    prefix = isolation.limit_prefix(isolation.Limits(cpu_s=7, memory_bytes=2**30, file_bytes=2**20))
    if isolation.shutil.which("prlimit"):
        assert prefix[0].endswith("prlimit")
        assert "--cpu=7" in prefix and f"--as={2**30}" in prefix and f"--fsize={2**20}" in prefix
    else:
        assert "ulimit -t 7" in prefix[2]


def test_without_prlimit_the_shell_sets_the_same_limits(monkeypatch, tmp_path):
    real_which = isolation.shutil.which
    monkeypatch.setattr(isolation.shutil, "which",
                        lambda name, **kw: None if name == "prlimit" else real_which(name, **kw))
    limits = isolation.Limits(cpu_s=5, memory_bytes=512 * 1024**2, file_bytes=1024**2)
    sb = LocalRuntime(tmp_path, limits=limits, use_bwrap=False).create("job-1", {}, 60)
    res = sb.run("ulimit -t; ulimit -f; python3 -c \"b = bytearray(2 * 1024**3)\"", timeout=20)
    assert res.output.splitlines()[:2] == ["5", "2048"]
    assert not res.ok and "MemoryError" in res.output
    sb.kill()
