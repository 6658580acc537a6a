"""Local sandbox files and lifecycle: writes stay inside the workspace, state survives a
reconnect from another runtime object, registration follows create and kill."""

import os

import pytest

from domain.errors import PathEscape, SandboxGone


def test_write_read_list(runtime):
    sb = runtime.create("job-1", {"user": "u1"}, 60)
    sb.write_files({"app.py": "print('hi')\n", "tests/test_x.py": "# t\n"})
    assert sb.read_file("app.py") == "print('hi')\n"
    assert sb.list_files() == ["app.py", "tests/test_x.py"]
    assert sb.run("cat tests/test_x.py", timeout=10).output == "# t\n"


@pytest.mark.parametrize("bad", ["/etc/passwd", "../outside.txt", "a/../../x", "~/x", ""])
def test_escaping_paths_are_refused_and_nothing_is_written(runtime, bad):
    sb = runtime.create("job-1", {}, 60)
    with pytest.raises(PathEscape):
        sb.write_files({"ok.txt": "fine", bad: "nope"})
    assert sb.list_files() == []  # all-or-nothing
    with pytest.raises(PathEscape):
        sb.read_file(bad)
    with pytest.raises(PathEscape):
        sb.run("true", cwd=bad)


def test_symlinks_pointing_out_are_refused(runtime, tmp_path):
    secret = tmp_path / "host-secret.txt"
    secret.write_text("host data")
    sb = runtime.create("job-1", {}, 60)
    os.symlink(secret, sb.workspace / "link.txt")  # as a command inside could have done
    os.symlink(tmp_path, sb.workspace / "linkdir")
    with pytest.raises(PathEscape):
        sb.read_file("link.txt")
    with pytest.raises(PathEscape):
        sb.write_files({"link.txt": "overwrite"})
    with pytest.raises(PathEscape):
        sb.write_files({"linkdir/new.txt": "x"})
    assert secret.read_text() == "host data"
    assert not (tmp_path / "new.txt").exists()


def test_registered_on_create_removed_on_kill(runtime, registry):
    sb = runtime.create("job-7", {}, 120)
    rec = registry.get(sb.id)
    assert rec.job_id == "job-7" and rec.runtime == "local"
    assert 119 <= rec.expires_at - rec.created_at <= 121
    assert [x.sandbox_id for x in registry.for_job("job-7")] == [sb.id]
    assert sb.kill() is True
    assert registry.get(sb.id) is None
    assert not sb.directory.exists()


def test_reconnect_from_a_new_runtime_object(runtime, make_runtime):
    sb = runtime.create("job-1", {"k": "v"}, 60)
    sb.write_files({"a.txt": "A"})
    other = make_runtime("bwrap" if sb.bwrap else "session")
    again = other.connect(sb.id)
    assert (again.job_id, again.read_file("a.txt")) == ("job-1", "A")
    assert (sb.id, {"k": "v", "job_id": "job-1"}) in other.list_live()
    assert other.kill(sb.id) is True
    with pytest.raises(SandboxGone):
        runtime.connect(sb.id)
    with pytest.raises(SandboxGone):
        sb.write_files({"b.txt": "B"})


def test_kill_twice_and_unknown_ids_are_harmless(runtime):
    sb = runtime.create("job-1", {}, 60)
    assert sb.kill() is True
    assert sb.kill() is False
    assert runtime.kill(sb.id) is False
    assert runtime.kill("local-0123456789abcdef") is False
    assert runtime.kill("../../etc") is False
    with pytest.raises(SandboxGone):
        runtime.connect("../../etc")


def test_preview_port_is_free_and_url_is_the_upstream(runtime):
    """Sharing the host's network, the app listens on a free host port, which is its URL; in a
    namespace of its own, the URL is its socket (no host port serves it)."""
    sb = runtime.create("job-1", {}, 60)
    port = sb.preview_port()
    assert 1024 <= port <= 65535
    url = sb.preview_url(port)
    if sb.preview_socket is None:
        assert url == f"http://127.0.0.1:{port}"
    else:
        assert url == f"unix:{sb.preview_socket}" == sb.preview_endpoint()


def test_kill_leaves_another_hosts_record_alone(runtime, registry):
    from actors.sandbox.registry import SandboxRecord

    registry.register(SandboxRecord(sandbox_id="local-aaaaaaaaaaaaaaaa", job_id="job-9",
                                    runtime="local", host="some-other-host", created_at=1.0,
                                    expires_at=2.0))
    assert runtime.kill("local-aaaaaaaaaaaaaaaa") is False
    assert registry.get("local-aaaaaaaaaaaaaaaa") is not None
