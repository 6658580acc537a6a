"""The preview route forwards to a real app in a real sandbox, through a real uvicorn: GET,
POST bodies, streaming both ways without buffering, large bodies, redirects and cookies kept
under the prefix, hop-by-hop headers and Kiln's credentials not forwarded, WebSockets, a unix
socket upstream, and the pages for an app that is gone or out of reach."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from actors.sandbox.registry import SandboxRecord, SandboxRegistry
from domain.preview import HOST_FIELD
from tests.support.previews import Stack, ready_job
from tests.support.waiting import wait_for
from tests.web.conftest import auth


@pytest.fixture
def job_id(stack, sandbox_app, store, r) -> str:
    project = store.create_project("user-1", "Previews")
    return ready_job(store, project["project_id"], sandbox_app.upstream)


def _headers(body: dict) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for name, value in body["headers"]:
        seen.setdefault(name, []).append(value)
    return seen


def test_get_reaches_the_app_with_kilns_credentials_and_hop_by_hop_headers_left_out(
        stack, job_id):
    sent = {**auth(), "Cookie": "theme=dark; kiln_preview=1.forged; lang=en",
            "Connection": "keep-alive, X-Caller-Hop", "X-Caller-Hop": "1",
            "Keep-Alive": "timeout=5", "TE": "trailers", "Proxy-Authorization": "Basic eA==",
            "X-Forwarded-Host": "evil.example", "X-Custom": "kept"}
    with stack.previews(**sent) as client:
        res = client.get(f"/preview/{job_id}/echo?x=1&hop=1")
    assert res.status_code == 200, res.text
    body = res.json()
    assert (body["path"], body["query"]) == ("/echo", "x=1&hop=1")
    seen = _headers(body)
    for name in ("authorization", "x-caller-hop", "keep-alive", "te", "proxy-authorization"):
        assert name not in seen, name
    assert seen["cookie"] == ["theme=dark; lang=en"]  # Kiln's cookie stays with Kiln
    assert seen["x-custom"] == ["kept"]
    # X-Forwarded-* are Kiln's, never the caller's claims.
    assert seen["x-forwarded-host"] == [stack.host]
    assert seen["x-forwarded-prefix"] == [f"/preview/{job_id}"]
    assert seen["x-forwarded-for"] == ["127.0.0.1"]
    # The app's hop-by-hop header (named in its Connection header) stops at Kiln too, and
    # uvicorn's Date/Server are not doubled by the app's.
    assert "x-app-hop" not in res.headers
    assert len(res.headers.get_list("server")) == 1


def test_post_bodies_arrive_whole(stack, job_id):
    data = os.urandom(1_500_000)
    with stack.previews(**auth()) as client:
        res = client.post(f"/preview/{job_id}/echo", content=data,
                          headers={"Content-Type": "application/octet-stream"})
    assert res.status_code == 200, res.text
    assert res.json() == {"method": "POST", "length": len(data),
                          "sha256": hashlib.sha256(data).hexdigest()}


def test_a_request_body_streams_to_the_app_as_it_arrives(stack, job_id):
    half = 1024 * 1024
    with stack.previews(**auth()) as client, stack.previews(**auth()) as watcher:
        def progress() -> int:
            return watcher.get(f"/preview/{job_id}/progress").json()["received"]

        def body() -> Iterator[bytes]:
            yield b"a" * half
            # Kiln did not wait for the whole body: the app already has the first half.
            wait_for(lambda: progress() >= half, 10, message="the first half at the app")
            yield b"b" * half

        res = client.post(f"/preview/{job_id}/echo", content=body(),
                          headers={"Content-Length": str(2 * half)})
    assert res.json()["length"] == 2 * half


def test_a_streamed_response_arrives_as_the_app_writes_it(stack, job_id):
    with stack.previews(**auth()) as client, stack.previews(**auth()) as other, \
            client.stream("GET", f"/preview/{job_id}/stream") as res:
        assert res.status_code == 200
        chunks = res.iter_raw()
        first = next(chunks)
        # The app holds the rest until told: had Kiln buffered, `first` would never come.
        assert first.startswith(b"first\n")
        assert other.get(f"/preview/{job_id}/release").json() == {"released": True}
        rest = b"".join(chunks)
    assert (first + rest) == b"first\nsecond\n"


def test_a_large_response_passes_unchanged(stack, job_id):
    with stack.previews(**auth()) as client:
        res = client.get(f"/preview/{job_id}/big?mb=8")
    assert res.status_code == 200
    assert res.headers["content-length"] == str(8 * 1024 * 1024)
    assert res.content == (bytes(range(256)) * 256) * (8 * 1024 * 1024 // 65536)


def test_a_body_over_the_limit_is_refused(stack, job_id):
    too_big = 4 * 1024 * 1024 + 1
    with stack.previews(**auth(), Accept="application/json") as client:
        declared = client.post(f"/preview/{job_id}/echo", content=b"x" * too_big)

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
            for _ in range(5):
                yield b"x" * (1024 * 1024)

        streamed = client.post(f"/preview/{job_id}/echo", content=chunks())
    assert declared.status_code == streamed.status_code == 413
    assert declared.json()["code"] == streamed.json()["code"] == "payload_too_large"


def test_redirects_and_cookies_stay_under_the_prefix(stack, job_id):
    prefix = f"/preview/{job_id}"
    with stack.previews(**auth()) as client:
        moved = client.get(f"{prefix}/redirect")
        cookies = client.get(f"{prefix}/cookie")
    assert moved.status_code == 302
    assert moved.headers["location"] == f"{prefix}/echo?from=redirect"
    assert cookies.headers.get_list("set-cookie") == [
        f"app=1; Path={prefix}/",
        f"wide=1; Path={prefix}/x; HttpOnly",  # no Domain: never a parent domain
    ]  # and the app's `kiln_preview` cookie is dropped: it cannot replace Kiln's


def _ws(stack: Stack, path: str, **headers: str):
    sock = socket.create_connection(("127.0.0.1", int(stack.url.rsplit(":", 1)[1])))
    return connect(f"ws://{stack.host}{path}", sock=sock, additional_headers=headers,
                   subprotocols=["echo"], open_timeout=10)


def test_a_websocket_echoes_through_kiln(stack, job_id):
    with _ws(stack, f"/preview/{job_id}/ws", **auth()) as ws:
        assert ws.subprotocol == "echo"  # the app's choice reaches the caller
        ws.send("hello")
        assert ws.recv(timeout=10) == "hello"
        ws.send(b"\x00\x01binary")
        assert ws.recv(timeout=10) == b"\x00\x01binary"
        big = "x" * 200_000
        ws.send(big)
        assert ws.recv(timeout=10) == big
        ws.close(code=4001)
    assert ws.close_code == 4001  # the app echoed the caller's close code back through Kiln


def test_a_websocket_without_access_is_refused_like_a_missing_preview(stack, job_id):
    for headers in ({}, auth("eve"), {"Cookie": "kiln_preview=1.x", "Origin": stack.origin}):
        with pytest.raises(InvalidStatus) as refused:
            _ws(stack, f"/preview/{job_id}/ws", **headers)
        assert refused.value.response.status_code == 404


@pytest.fixture(params=["short", "long"])
def unix_upstream(request, sandbox_app, tmp_path: Path) -> Iterator[str]:
    """The app behind a unix socket of our own (socat to the sandbox's), at a path
    that fits a unix address, or one longer than the 108 bytes one holds (deep sandbox roots:
    bound by a relative name, the way the sandbox's own socket is)."""
    if not shutil.which("socat"):
        pytest.skip("socat is not installed (apt-get install socat)")
    directory = tmp_path if request.param == "short" else tmp_path / ("d" * 60) / ("e" * 60)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "preview.sock"
    assert (len(str(path)) > 108) == (request.param == "long")
    app = sandbox_app.upstream  # the sandbox's own socket, or its loopback port
    to_app = f"UNIX-CONNECT:{app[len('unix:'):]}" if app.startswith("unix:") else \
        f"TCP:127.0.0.1:{app.rsplit(':', 1)[1]}"
    proc = subprocess.Popen(["socat", "UNIX-LISTEN:preview.sock,fork,mode=600", to_app],
                            cwd=directory)
    try:
        wait_for(path.exists, 10, message="the socket")
        yield f"unix:{path}"
    finally:
        proc.terminate()
        proc.wait(5)


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_app_that_is_gone_wakes_up_and_one_not_answering_says_so(stack, store, r):
    project = store.create_project("user-1", "Gone")
    upstream = f"http://127.0.0.1:{_dead_port()}"
    reaped = ready_job(store, project["project_id"], upstream, sandbox_id="local-reaped")
    alive = ready_job(store, project["project_id"], upstream, sandbox_id="local-alive")
    SandboxRegistry(r, "kiln").register(SandboxRecord("local-alive", alive, "local", "h", 0, 1))
    with stack.previews(**auth(), Accept="text/html") as client:
        gone = client.get(f"/preview/{reaped}/")
        silent = client.get(f"/preview/{alive}/")
    assert gone.status_code == 503 and "Waking up the app" in gone.text  # reaped: it wakes
    assert silent.status_code == 502 and "not answering" in silent.text


def test_a_loopback_app_on_another_host_is_never_guessed_at(stack, store, sandbox_app, r):
    project = store.create_project("user-1", "Elsewhere")
    job_id = ready_job(store, project["project_id"], sandbox_app.upstream,
                       **{HOST_FIELD: "another-worker-host"})
    r.set(store.keys.host("another-worker-host"), "1", ex=60)  # alive, but no gateway here
    with stack.previews(**auth(), Accept="application/json") as client:
        res = client.get(f"/preview/{job_id}/echo")
    # The same address on this host is some other process: Kiln does not connect to it.
    assert res.status_code == 503 and res.json()["code"] == "preview_unreachable"
    assert not r.exists(store.keys.wake(job_id))


def test_a_preview_on_a_lost_host_wakes_up_elsewhere(stack, store, sandbox_app, r):
    """Its host's heartbeat lapsed (docs/reliability.md, "Several worker hosts"): its sandbox
    went with it, so a visit wakes the preview up like a reaped one."""
    project = store.create_project("user-1", "Lost host")
    job_id = ready_job(store, project["project_id"], sandbox_app.upstream,
                       **{HOST_FIELD: "a-lost-worker-host"})
    with stack.previews(**auth(), Accept="application/json") as client:
        res = client.get(f"/preview/{job_id}/echo")
    assert res.status_code == 503 and res.json()["code"] == "waking"
    assert r.exists(store.keys.wake(job_id))


def test_api_clients_get_kilns_json_errors_and_browsers_a_page(stack, r):
    missing = "/preview/0123456789abcdef0123456789abcdef/"
    with httpx.Client(base_url=stack.url, headers={"Host": stack.host, **auth()}) as client:
        api = client.get(missing, headers={"Accept": "application/json"})
        browser = client.get(missing, headers={"Accept": "text/html,*/*;q=0.8"})
    assert api.status_code == browser.status_code == 404
    assert api.json() == {"code": "not_found", "detail": api.json()["detail"]}
    assert browser.headers["content-type"].startswith("text/html")
    assert "No preview here" in browser.text
