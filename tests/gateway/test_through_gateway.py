"""A preview whose app only another host can reach is served by any web process, through that
host's gateway: HTTP both ways, a streamed response, a WebSocket; what the web tier rewrites
(redirects, cookies) is rewritten once; the gateway's signature never reaches the app; and
without a live gateway the page says the app is out of reach."""

from __future__ import annotations

import hashlib
import os
import signal
import socket

import pytest
from websockets.sync.client import connect

from actors.sandbox.registry import SandboxRecord, SandboxRegistry
from domain.preview import HOST_FIELD
from tests.gateway.conftest import WORKER
from tests.support.gateways import gateway_process, registered
from tests.support.previews import Stack, ready_job
from tests.support.webproc import free_port
from tests.web.conftest import auth


@pytest.fixture
def job_id(jobs, sandbox_app, gateway) -> str:
    project = jobs.create_project("user-1", "Through a gateway")
    return ready_job(jobs, project["project_id"], sandbox_app.upstream, **{HOST_FIELD: WORKER})


def _seen(body: dict) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for name, value in body["headers"]:
        seen.setdefault(name, []).append(value)
    return seen


def test_http_reaches_the_app_on_another_host_through_its_gateway(web, job_id):
    with web.previews(**auth(), Cookie="theme=dark") as client:
        res = client.get(f"/preview/{job_id}/echo?x=1&y=%20z")
        data = os.urandom(300_000)
        posted = client.post(f"/preview/{job_id}/echo", content=data)
    assert res.status_code == 200, res.text
    body = res.json()
    assert (body["path"], body["query"]) == ("/echo", "x=1&y=%20z")
    seen = _seen(body)
    # The web tier's view of the caller arrives; its credentials and the signature do not.
    assert seen["x-forwarded-prefix"] == [f"/preview/{job_id}"]
    assert seen["x-forwarded-host"] == [web.host]
    assert seen["cookie"] == ["theme=dark"]
    for name in ("authorization", "x-kiln-gateway-signature"):
        assert name not in seen, name
    assert posted.status_code == 200
    assert posted.json()["sha256"] == hashlib.sha256(data).hexdigest()


def test_an_app_cannot_pose_as_its_gateway(web, job_id):
    with web.previews(**auth()) as client:
        res = client.get(f"/preview/{job_id}/echo?posing")
    assert res.status_code == 200 and res.json()["query"] == "posing"
    assert "x-kiln-gateway-error" not in res.headers


def test_redirects_and_cookies_are_rewritten_once(web, job_id):
    prefix = f"/preview/{job_id}"
    with web.previews(**auth()) as client:
        moved = client.get(f"{prefix}/redirect")
        cookies = client.get(f"{prefix}/cookie")
    assert moved.status_code == 302
    assert moved.headers["location"] == f"{prefix}/echo?from=redirect"
    assert cookies.headers.get_list("set-cookie") == [f"app=1; Path={prefix}/",
                                                      f"wide=1; Path={prefix}/x; HttpOnly"]


def test_a_streamed_response_arrives_as_the_app_writes_it(web, job_id):
    with web.previews(**auth()) as client, web.previews(**auth()) as other, \
            client.stream("GET", f"/preview/{job_id}/stream") as res:
        assert res.status_code == 200
        chunks = res.iter_raw()
        first = next(chunks)
        # The app holds the rest until told: had the web tier or the gateway buffered it,
        # `first` would never come.
        assert first.startswith(b"first\n")
        assert other.get(f"/preview/{job_id}/release").json() == {"released": True}
        rest = b"".join(chunks)
    assert first + rest == b"first\nsecond\n"


def _ws(stack: Stack, path: str, **headers: str):
    sock = socket.create_connection(("127.0.0.1", int(stack.url.rsplit(":", 1)[1])))
    return connect(f"ws://{stack.host}{path}", sock=sock, additional_headers=headers,
                   subprotocols=["echo"], open_timeout=10)


def test_a_websocket_echoes_through_the_gateway(web, job_id):
    with _ws(web, f"/preview/{job_id}/ws", **auth()) as ws:
        assert ws.subprotocol == "echo"
        ws.send("hello")
        assert ws.recv(timeout=10) == "hello"
        ws.send(b"\x00\x01binary")
        assert ws.recv(timeout=10) == b"\x00\x01binary"
        ws.close(code=4001)
    assert ws.close_code == 4001  # the app's echo of the close code came back both hops


def test_without_a_live_gateway_the_app_is_out_of_reach(web, jobs, sandbox_app, tmp_path, kv,
                                                        redis_url):
    project = jobs.create_project("user-1", "Gateway gone")
    job_id = ready_job(jobs, project["project_id"], sandbox_app.upstream,
                       **{HOST_FIELD: "worker-2"})

    def get(json: bool = True):
        with web.previews(**auth(), Accept="application/json" if json else "text/html") as c:
            return c.get(f"/preview/{job_id}/echo")

    kv.set("kiln:host:worker-2", "1", ex=120)  # the host is alive (a lost one's preview wakes)
    never = get()  # worker-2 never ran a gateway
    assert never.status_code == 503 and never.json()["code"] == "preview_unreachable"
    with gateway_process(redis_url, "worker-2", tmp_path / "gw.log") as gateway:
        assert get().status_code == 200
        gateway.stop(signal.SIGTERM)  # a clean stop takes its registration with it
        assert registered(kv, "worker-2") is None
        stopped = get(json=False)
        assert stopped.status_code == 503 and "cannot be reached" in stopped.text
    # One that died outright: its registration outlives it until the TTL runs out.
    kv.set("kiln:gateway:worker-2", f"http://127.0.0.1:{free_port()}", ex=60)
    killed = get()
    assert killed.status_code == 503 and killed.json()["code"] == "preview_unreachable"


def test_a_gateway_that_refuses_shows_the_same_page(web, jobs, sandbox_app, gateway, kv):
    """A registration that names another host's gateway (a record that moved, or secrets that
    differ): that gateway refuses, and the visitor sees the app as out of reach."""
    project = jobs.create_project("user-1", "Wrong gateway")
    job_id = ready_job(jobs, project["project_id"], sandbox_app.upstream,
                       **{HOST_FIELD: "worker-5"})
    kv.set("kiln:gateway:worker-5", gateway.url, ex=60)  # worker-1's gateway, not worker-5's
    try:
        with web.previews(**auth(), Accept="application/json") as client:
            res = client.get(f"/preview/{job_id}/echo")
    finally:
        kv.delete("kiln:gateway:worker-5")
    assert res.status_code == 503 and res.json()["code"] == "preview_unreachable"


def test_an_app_not_answering_behind_the_gateway_gets_the_same_pages(web, jobs, gateway, kv):
    """The gateway says the app refused it; the web tier tells a reaped sandbox (it wakes the
    preview up) from an app not answering, as it does for an app on its own host
    (docs/previews.md, "Pages instead of the app")."""
    project = jobs.create_project("user-1", "Silent app")
    upstream = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    reaped = ready_job(jobs, project["project_id"], upstream, sandbox_id="local-reaped",
                       **{HOST_FIELD: WORKER})
    alive = ready_job(jobs, project["project_id"], upstream, sandbox_id="local-alive-gw",
                      **{HOST_FIELD: WORKER})
    registry = SandboxRegistry(kv, "kiln")
    registry.register(SandboxRecord("local-alive-gw", alive, "local", WORKER, 0, 1))
    try:
        with web.previews(**auth(), Accept="application/json") as client:
            gone = client.get(f"/preview/{reaped}/")
            silent = client.get(f"/preview/{alive}/")
    finally:
        registry.remove("local-alive-gw")
    assert gone.status_code == 503 and gone.json()["code"] == "waking"
    assert kv.exists(f"kiln:job:{{{reaped}}}:wake")  # the wake began
    assert silent.status_code == 502 and silent.json()["code"] == "preview_unavailable"
