"""Where the host lacks a piece of the network recipe, the sandbox degrades the way the log
says, once: without slirp4netns/nft installs run offline (never on the host's network); without
socat/nsenter the preview server keeps the host network so previews still work."""

from __future__ import annotations

import httpx
import pytest
import structlog

from actors.sandbox import support
from tests.sandbox.escape import connect_script, outcomes
from tests.sandbox.helpers import needs_bwrap
from tests.support.waiting import wait_for

pytestmark = [needs_bwrap, pytest.mark.bwrap]


@pytest.fixture
def host_lacks(monkeypatch):
    """Pretend the probe found less than this host has (and log as it would)."""
    def lack(**missing: bool) -> None:
        real = support._probe()
        fake = support.NetSupport(egress=real.egress and not missing.get("egress"),
                                  forwarding=real.forwarding and not missing.get("forwarding"))
        monkeypatch.setattr(support, "_support", None)
        monkeypatch.setattr(support, "_probe", lambda: fake)
    yield lack
    monkeypatch.setattr(support, "_support", None)  # the next test probes the real host again


def test_without_egress_tools_installs_run_offline_and_it_is_logged_once(make_runtime, host_lacks):
    host_lacks(egress=True)
    with structlog.testing.capture_logs() as logs:
        sb = make_runtime("bwrap").create("job-1", {}, 60)
        first = sb.run(connect_script([("1.1.1.1", 443), ("127.0.0.1", 6379)]), timeout=30,
                       egress=True)
        sb.run("true", timeout=10, egress=True)
    assert [e["event"] for e in logs].count("sandbox_egress_unavailable") == 1
    seen = outcomes(first.output)
    assert seen["1.1.1.1:443"].startswith("OSError")  # no route: no network at all
    assert seen["127.0.0.1:6379"].startswith("ConnectionRefusedError")  # its own loopback


def test_without_forwarding_tools_previews_use_the_host_loopback(make_runtime, host_lacks):
    host_lacks(forwarding=True)
    with structlog.testing.capture_logs() as logs:
        sb = make_runtime("bwrap").create("job-1", {}, 60)
        port = sb.preview_port()
        sb.start_background(f"python3 -m http.server {port} --bind 127.0.0.1")
        url = sb.preview_url(port)
    assert [e["event"] for e in logs].count("sandbox_preview_forwarding_unavailable") == 1
    assert sb.preview_socket is None and sb.preview_endpoint() is None
    assert url == f"http://127.0.0.1:{port}"
    wait_for(lambda: _status(url) == 200, 15, message="the preview on the host loopback")
    assert sb.probe(url + "/") == 200
    sb.kill()
    assert _status(url) == 0


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0
