"""A sandbox's code sees nothing of the host but its workspace: not other processes' /proc (a
worker's API key lives in its environment), not host secrets, not the Redis socket; and what it
writes outside the workspace never reaches the host."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.sandbox.escape import SECRET, host_api  # noqa: F401
from tests.sandbox.helpers import needs_bwrap

pytestmark = [needs_bwrap, pytest.mark.bwrap]


@pytest.fixture
def sb(make_runtime):
    return make_runtime("bwrap").create("job-1", {}, 60)


def test_other_processes_and_their_secrets_are_invisible(sb, host_api):  # noqa: F811
    assert SECRET.encode() in Path(f"/proc/{host_api.pid}/environ").read_bytes()  # it is there
    res = sb.run(f"cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c {SECRET}; "
                 f"ls /proc/{host_api.pid} 2>&1; ls /proc | grep -c '^[0-9]'", timeout=10)
    lines = res.output.splitlines()
    assert lines[0] == "0" and "No such file" in lines[1], res.output
    assert int(lines[-1]) < 10  # only this command's own few processes


def test_host_secrets_and_the_redis_socket_are_not_there(sb, redis_url):
    targets = ["/etc/shadow", "/root", "/work", "/home", "/var/run", "/run"]
    sock = urlsplit(redis_url).path if redis_url.startswith("unix://") else None
    if sock:
        assert os.path.exists(sock)  # the test's real Redis socket, on the host
        targets.append(sock)
    res = sb.run("for p in " + " ".join(targets) + "; do [ -e \"$p\" ] && echo \"SEEN $p\"; "
                 "done; cat /etc/shadow 2>&1 | head -1; echo end", timeout=10)
    assert "SEEN" not in res.output, res.output
    assert "No such file" in res.output
    if sock:  # and a connection to it fails (no path leads there)
        code = (f"import socket; s = socket.socket(socket.AF_UNIX); s.settimeout(2); "
                f"s.connect({sock!r}); s.send(b'PING\\r\\n'); print('REPLY', s.recv(10))")
        res = sb.run(f"python3 -c \"{code}\" 2>&1", timeout=10)
        assert "REPLY" not in res.output and ("FileNotFoundError" in res.output), res.output


def test_writes_outside_the_workspace_never_reach_the_host(sb):
    name = f"kiln-escape-{uuid.uuid4().hex[:8]}"
    places = ["/", "/tmp", "/usr", "/usr/local", "/etc", "/var/tmp", "/dev/shm"]
    res = sb.run("; ".join(f"echo x > {p.rstrip('/')}/{name} 2>/dev/null && echo WROTE {p}"
                           for p in places) + "; echo done", timeout=10)
    assert "done" in res.output
    # The system is bound read-only; /, /etc (its few bound files aside) and /tmp are the
    # sandbox's own tmpfs, which takes writes that vanish with it.
    wrote = {line.split()[1] for line in res.output.splitlines() if line.startswith("WROTE ")}
    assert not wrote & {"/usr", "/usr/local"}, res.output
    for place in places:
        assert not Path(place, name).exists(), f"{place}/{name} appeared on the host"
    assert not list(sb.directory.glob(f"**/{name}")), "written into the sandbox's host directory"
