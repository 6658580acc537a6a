"""The gateway serves only the web tier, and only its own host's previews: a request without
a valid, fresh signature over what it asks for is refused (403 JSON), and so is one for a job
whose preview is not a READY build's on this host, whatever the request says."""

from __future__ import annotations

import time

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from domain.preview import HOST_FIELD
from domain.status import Status
from tests.gateway.conftest import WORKER
from tests.sandbox.escape import connect_script, outcomes
from tests.support.gateways import GATEWAY_SECRET
from tests.support.previews import ready_job
from tests.web.conftest import job_at
from web.gateway import signing


def _signed(method: str, job_id: str, target: str, at: float | None = None,
            secret: str = GATEWAY_SECRET) -> dict[str, str]:
    stamp = time.time() if at is None else at
    return {signing.HEADER: signing.sign(secret, method, job_id, target, stamp)}


def _get(gateway, target: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.get(gateway.url + target, headers=headers, timeout=10, trust_env=False)


@pytest.fixture
def job_id(jobs, sandbox_app, gateway) -> str:
    project = jobs.create_project("user-1", "Refusals")
    return ready_job(jobs, project["project_id"], sandbox_app.upstream, **{HOST_FIELD: WORKER})


def test_only_a_valid_fresh_signature_over_the_request_gets_through(gateway, job_id):
    target = f"/preview/{job_id}/echo?x=1"
    ok = _get(gateway, target, _signed("GET", job_id, target))
    assert ok.status_code == 200 and ok.json()["query"] == "x=1"  # the control
    refused = {
        "unsigned": {},
        "malformed": {signing.HEADER: "not-a-signature"},
        "another secret": _signed("GET", job_id, target, secret="x" * 40),
        "stale": _signed("GET", job_id, target, at=time.time() - 120),
        "another path": _signed("GET", job_id, f"/preview/{job_id}/echo?x=2"),
        "another method": _signed("POST", job_id, target),
    }
    for why, headers in refused.items():
        res = _get(gateway, target, headers)
        assert res.status_code == 403, why
        assert res.json()["code"] == "bad_signature", why
        assert res.headers["x-kiln-gateway-error"] == "bad_signature"


def test_a_websocket_needs_its_own_signature(gateway, job_id):
    target = f"/preview/{job_id}/ws"
    url = "ws://" + gateway.url.removeprefix("http://") + target
    for headers in ({}, _signed("GET", job_id, target)):  # a signed GET opens no WebSocket
        with pytest.raises(InvalidStatus) as refused:
            connect(url, additional_headers=headers, open_timeout=10)
        assert refused.value.response.status_code == 403
    with connect(url, additional_headers=_signed(signing.WEBSOCKET, job_id, target),
                 open_timeout=10) as ws:
        ws.send("signed")
        assert ws.recv(timeout=10) == "signed"


def test_jobs_not_served_by_this_host_are_refused_even_when_signed(gateway, jobs, sandbox_app):
    project = jobs.create_project("user-1", "Not here")
    pid = project["project_id"]
    others = {
        "another host's": ready_job(jobs, pid, sandbox_app.upstream, **{HOST_FIELD: "worker-2"}),
        "unrecorded host": ready_job(jobs, pid, sandbox_app.upstream, **{HOST_FIELD: ""}),
        "still building": job_at(jobs, pid, Status.CHECKS),
        "not host-bound": ready_job(jobs, pid, "https://8000-sb.e2b.app",
                                    **{HOST_FIELD: WORKER}),
        "unknown": "0" * 32,
    }
    for why, job_id in others.items():
        target = f"/preview/{job_id}/echo"
        res = _get(gateway, target, _signed("GET", job_id, target))
        assert res.status_code == 403, why
        assert res.json()["code"] == "not_here", why


def test_a_contained_sandbox_has_no_way_to_the_gateway(gateway, sandbox_app):
    """Code in a sandbox is no client of its host's gateway: it has no route to where the
    gateway listens (here the host's loopback; in production a private address, which the
    sandbox's network has no route to either, docs/sandbox.md)."""
    sb = sandbox_app.sandbox
    if not sb.bwrap:
        pytest.skip("bubblewrap is not usable here: sandboxes share the host's network")
    port = int(gateway.url.rsplit(":", 1)[1])
    for egress in (False, True):
        seen = outcomes(sb.run(connect_script([("127.0.0.1", port)]), timeout=60,
                               egress=egress).output)
        assert "connected" not in seen.values(), seen
