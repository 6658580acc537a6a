"""A sandbox's code reaches nothing on the host's network: not Kiln's API or /metrics (on the
host's loopback or its LAN address), not another tenant's preview, not private or link-local
ranges, not even with the egress an install step gets. Only the public internet, and only for
commands granted egress."""

from __future__ import annotations

import httpx
import pytest

from tests.sandbox.escape import connect_script, host_address, host_api, outcomes  # noqa: F401
from tests.sandbox.helpers import needs_bwrap, needs_egress, needs_forwarding
from tests.support.waiting import wait_for
from web.preview.targets import fetch

pytestmark = [needs_bwrap, pytest.mark.bwrap]

PRIVATE = [("10.0.2.2", 22), ("169.254.169.254", 80), ("192.168.1.1", 80), ("172.17.0.1", 6379),
           ("100.64.0.1", 80)]


def _host_targets(port: int) -> list[tuple[str, int]]:
    """Where a host service listening on every address could be reached: loopback, slirp's
    gateway alias for the host, and the host's own address."""
    targets = [("127.0.0.1", port), ("10.0.2.2", port)]
    if addr := host_address():
        targets.append((addr, port))
    return targets


@pytest.fixture
def sb(make_runtime):
    return make_runtime("bwrap").create("job-1", {}, 120)


@pytest.mark.parametrize("egress", [False, pytest.param(True, marks=needs_egress)],
                         ids=["offline", "with-egress"])
def test_kilns_api_and_private_ranges_are_unreachable(sb, host_api, egress):  # noqa: F811
    assert httpx.get(f"http://127.0.0.1:{host_api.port}/metrics").status_code == 200  # it is up
    targets = _host_targets(host_api.port) + PRIVATE
    res = sb.run(connect_script(targets), timeout=60, egress=egress)
    seen = outcomes(res.output)
    assert set(seen) == {f"{h}:{p}" for h, p in targets}
    assert "connected" not in seen.values(), seen
    # The host's loopback port is the sandbox's own loopback: nothing listens there.
    assert seen[f"127.0.0.1:{host_api.port}"].startswith("ConnectionRefusedError")
    if egress:  # rejected at once by the sandbox's nft table, not left to time out
        assert all("timed out" not in v for v in seen.values()), seen


@needs_forwarding
def test_another_sandboxs_preview_is_unreachable(make_runtime):
    runtime = make_runtime("bwrap")
    victim, intruder = runtime.create("job-v", {}, 120), runtime.create("job-i", {}, 120)
    port = victim.preview_port()
    victim.start_background(f"python3 -m http.server {port} --bind 127.0.0.1")
    url = victim.preview_url(port)
    assert url == f"unix:{victim.preview_socket}"  # no port on the host serves it
    wait_for(lambda: _status(url) == 200, 15, message="the victim's preview")
    for egress in (False, True):
        res = intruder.run(connect_script(_host_targets(port)), timeout=60, egress=egress)
        assert "connected" not in outcomes(res.output).values(), res.output
    # Nor is its socket there to find: the sandbox sees its workspace, not the sandbox root.
    res = intruder.run(f"ls {victim.preview_socket} {victim.directory} 2>&1; "
                       "ls / | grep -c local-", timeout=10)
    assert "No such file" in res.output and res.output.strip().endswith("0")


@needs_egress
def test_install_commands_reach_the_public_internet_and_nothing_else_does(make_runtime):
    if not _host_online():
        pytest.skip("this host itself cannot reach pypi.org")
    sb = make_runtime("bwrap").create("job-1", {}, 120)
    fetch = ("python3 -c \"import urllib.request as u; "
             "print('STATUS', u.urlopen('https://pypi.org/simple/pip/', timeout=15).status)\"")
    assert "STATUS 200" in sb.run(fetch, timeout=60, egress=True).output
    offline = sb.run(fetch, timeout=60)  # checks, the app's own commands: no network
    assert not offline.ok and "STATUS" not in offline.output


@needs_egress
def test_egress_none_keeps_even_install_commands_offline(make_runtime):
    from actors.sandbox.local import LocalRuntime

    base = make_runtime("bwrap")
    runtime = LocalRuntime(base.root, base.registry, base.limits, use_bwrap=True, egress="none")
    sb = runtime.create("job-1", {}, 60)
    try:
        res = sb.run(connect_script([("1.1.1.1", 443), ("10.0.2.3", 53)]), timeout=30,
                     egress=True)
        seen = outcomes(res.output)
        assert all(v.startswith("OSError") for v in seen.values()), seen  # no route at all
    finally:
        sb.kill()


@needs_forwarding
def test_the_preview_server_itself_has_no_egress_by_default(make_runtime, host_api):  # noqa: F811
    sb = make_runtime("bwrap").create("job-1", {}, 120)
    targets = _host_targets(host_api.port) + [("1.1.1.1", 443)]
    sb.start_background(connect_script(targets) + " > probe.txt")
    text = wait_for(lambda: "RESULT" in _read(sb, "probe.txt") and _read(sb, "probe.txt"), 20,
                    message="the background probe")
    assert "connected" not in outcomes(text).values()


def _read(sb, path: str) -> str:
    try:
        return sb.read_file(path)
    except FileNotFoundError:
        return ""


def _status(url: str) -> int:
    try:
        return fetch(url, "/", timeout=2).status_code
    except httpx.HTTPError:
        return 0


def _host_online() -> bool:
    try:
        return httpx.get("https://pypi.org/simple/pip/", timeout=10).status_code == 200
    except httpx.HTTPError:
        return False
