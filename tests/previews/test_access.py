"""Who may see a preview, on a real uvicorn with a real app in a sandbox: the owner's token, a
signed link (its cookie, the redirect to the clean URL), and for everything else (no
credentials, another user, an expired, tampered or foreign link or cookie, a malformed id,
path tricks) the same 404 as for a missing job. Also: the two origins stay apart, the pages a
preview shows instead of the app, and the stable URL in every API answer."""

from __future__ import annotations

import http.client
import json
import time

import httpx
import pytest

from domain.ids import new_id
from domain.preview import upstream_fields
from domain.status import Status
from tests.support.previews import Stack, link, ready_job
from tests.web.conftest import SECRET, auth, job_at, walk
from web.preview.access import COOKIE, LINK, SESSION, Signer


@pytest.fixture
def project_id(stack, store, r) -> str:
    return store.create_project("user-1", "Access")["project_id"]


@pytest.fixture
def job_id(project_id, store, sandbox_app) -> str:
    return ready_job(store, project_id, sandbox_app.upstream)


def _path(url: str, stack: Stack) -> str:
    assert url.startswith(stack.origin + "/")
    return url.removeprefix(stack.origin)


def test_a_link_sets_a_cookie_for_the_preview_and_redirects_to_the_clean_url(stack, job_id):
    url = link(stack, job_id)
    assert url.startswith(f"{stack.origin}/preview/{job_id}/?preview_token=")
    with stack.previews() as browser:
        landed = browser.get(_path(url, stack) + "&tab=2")
        assert landed.status_code == 303
        assert landed.headers["location"] == f"/preview/{job_id}/?tab=2"  # token gone
        cookie = landed.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=")
        for attribute in (f"Path=/preview/{job_id}/", "HttpOnly", "SameSite=Lax"):
            assert attribute in cookie.split("; "), attribute
        page = browser.get(f"/preview/{job_id}/echo?x=1")  # the cookie alone lets it in
    assert page.status_code == 200
    seen = dict(page.json()["headers"])
    assert "cookie" not in seen  # Kiln's cookie never reaches the app


def test_a_link_followed_in_a_cross_site_frame_sets_a_partitioned_cookie(stack, job_id):
    # bin/dev's page (127.0.0.1) frames the preview (localhost): only a partitioned cookie
    # is kept there (checked in Chromium: tests/browser/test_preview_page.py).
    frame = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "iframe"}
    with stack.previews(**frame) as browser:
        landed = browser.get(_path(link(stack, job_id), stack))
    attributes = landed.headers["set-cookie"].split("; ")
    assert {"SameSite=None", "Secure", "Partitioned", "HttpOnly"} <= set(attributes)


def _missing(stack: Stack, path: str, **headers: str) -> httpx.Response:
    with stack.previews(Accept="application/json", **headers) as client:
        return client.get(path)


def test_everyone_without_access_gets_exactly_what_a_missing_job_gets(stack, store, job_id,
                                                                        project_id,
                                                                        sandbox_app):
    other = ready_job(store, project_id, sandbox_app.upstream)
    signer = Signer(SECRET)
    good = _path(link(stack, job_id), stack)
    token = good.partition("preview_token=")[2]
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    expired = signer.mint(LINK, job_id, int(time.time()) - 1)
    missing = _missing(stack, f"/preview/{new_id()}/echo", **auth())
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    attempts = {
        "no credentials": _missing(stack, f"/preview/{job_id}/echo"),
        "another user": _missing(stack, f"/preview/{job_id}/echo", **auth("eve")),
        "a bad token": _missing(stack, f"/preview/{job_id}/echo",
                                Authorization="Bearer not-a-token"),
        "an expired link": _missing(stack, f"/preview/{job_id}/?preview_token={expired}"),
        "a tampered link": _missing(stack, f"/preview/{job_id}/?preview_token={tampered}"),
        "another job's link": _missing(stack, f"/preview/{other}/?preview_token={token}"),
        "a link as a cookie": _missing(stack, f"/preview/{job_id}/echo",
                                       Cookie=f"{COOKIE}={token}"),
        "another job's cookie": _missing(
            stack, f"/preview/{job_id}/echo",
            Cookie=f"{COOKIE}={signer.mint(SESSION, other, int(time.time()) + 60)}"),
        "an expired cookie": _missing(
            stack, f"/preview/{job_id}/echo",
            Cookie=f"{COOKIE}={signer.mint(SESSION, job_id, int(time.time()) - 1)}"),
    }
    for what, res in attempts.items():
        assert (res.status_code, res.json()) == (404, missing.json()), what


def _raw_get(stack: Stack, path: str, **headers: str) -> tuple[int, str]:
    """A request whose path goes out exactly as written (httpx would normalize `..`)."""
    conn = http.client.HTTPConnection("127.0.0.1", int(stack.url.rsplit(":", 1)[1]), timeout=10)
    try:
        conn.request("GET", path, headers={"Host": stack.host, "Accept": "application/json",
                                           **headers})
        res = conn.getresponse()
        return res.status, res.read().decode()
    finally:
        conn.close()


def test_malformed_ids_and_path_tricks_are_404s(stack, job_id, project_id, store,
                                                sandbox_app):
    other = ready_job(store, project_id, sandbox_app.upstream, user="eve")
    assert _raw_get(stack, f"/preview/{job_id}/echo", **auth())[0] == 200
    for path in (f"/preview/{job_id.upper()}/echo", f"/preview/{job_id[:-1]}/echo",
                 f"/preview/{job_id}:events/", "/preview/*/echo",
                 f"/preview/%{ord(job_id[0]):02x}{job_id[1:]}/echo",  # an encoded id
                 f"/preview/{job_id}/../{other}/echo",  # my credentials, eve's app
                 f"/preview/{job_id}/%2e%2e/{other}/echo", f"/preview/{job_id}/a/./echo",
                 f"/preview/{job_id}/a%2Fb", f"/preview/{job_id}/a%5cb",
                 f"/preview/{job_id}/a\\b", f"/preview/{job_id}/a%00"):
        status, body = _raw_get(stack, path, **auth())
        assert status == 404, (path, body)
        assert json.loads(body)["code"] == "not_found", path


def test_the_two_origins_stay_apart(stack, job_id):
    with stack.kiln() as kiln, stack.previews(**auth()) as previews:
        # The preview route does not exist on Kiln's origin...
        on_kiln = kiln.get(f"/preview/{job_id}/echo", headers=auth())
        # ...and Kiln's pages and API do not exist on the preview origin.
        api = previews.get(f"/api/generation/{job_id}/status")
        page = previews.get("/", headers={"Accept": "text/html"})
        static = previews.get("/static/app.js")
        assert kiln.get(f"/api/generation/{job_id}/status", headers=auth()).status_code == 200
        assert previews.get("/healthz").status_code == 200  # a load balancer's check
        assert previews.get(f"/preview/{job_id}/echo").status_code == 200
    assert (on_kiln.status_code, on_kiln.json()["code"]) == (404, "not_found")
    assert api.status_code == page.status_code == static.status_code == 404
    assert "previews only" in page.text and "app.js" not in page.text  # not the build page


def test_a_cookie_cannot_change_things_from_another_site(stack, job_id):
    with stack.previews() as browser:
        browser.get(_path(link(stack, job_id), stack))
        foreign = browser.post(f"/preview/{job_id}/echo", content=b"x",
                               headers={"Origin": "https://evil.example"})
        own = browser.post(f"/preview/{job_id}/echo", content=b"x",
                           headers={"Origin": stack.origin})
        read = browser.get(f"/preview/{job_id}/echo", headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 404
    assert own.status_code == 200 and own.json()["length"] == 1
    assert read.status_code == 200


def test_the_owner_sees_why_there_is_no_app(stack, store, project_id, sandbox_app):
    building = job_at(store, project_id, Status.CODE)
    failed = job_at(store, project_id, Status.DEPS)
    walk(store, failed, Status.FAILED)
    expired = ready_job(store, project_id, sandbox_app.upstream, expires_in=-1)
    html = {"Accept": "text/html"}
    with stack.previews(**auth(), **html) as owner, stack.previews(**auth("eve"), **html) as eve:
        pages = {job: owner.get(f"/preview/{job}/") for job in (building, failed, expired)}
        for job in (building, failed, expired):  # nothing of it for anyone else
            assert eve.get(f"/preview/{job}/").status_code == 404
        bare = owner.get(f"/preview/{expired}", follow_redirects=False)
    assert pages[building].status_code == 503
    assert pages[building].headers["retry-after"] == "5"
    assert "Still building" in pages[building].text and "Writing code" in pages[building].text
    assert '<meta http-equiv="refresh" content="5">' in pages[building].text
    assert pages[failed].status_code == 404 and "build failed" in pages[failed].text
    # An expired preview wakes up (no workers here: it stays waking; tests/previews/test_wake.py)
    assert pages[expired].status_code == 503 and "Waking up the app" in pages[expired].text
    assert pages[expired].headers["retry-after"] == "2"
    assert '<meta http-equiv="refresh" content="2">' in pages[expired].text
    assert (bare.status_code, bare.headers["location"]) == (308, f"/preview/{expired}/")


def test_the_api_shows_the_stable_url_and_hands_out_links(stack, store, project_id,
                                                          sandbox_app):
    ready = ready_job(store, project_id, sandbox_app.upstream)
    running = job_at(store, project_id, Status.CODE)
    stable = f"{stack.origin}/preview/{ready}/"
    with stack.kiln() as api:
        status = api.get(f"/api/generation/{ready}/status", headers=auth()).json()
        again = api.get(f"/api/generation/{ready}/status", headers=auth()).json()  # cached
        waiting = api.get(f"/api/generation/{running}/status", headers=auth()).json()
        project = api.get(f"/api/projects/{project_id}", headers=auth()).json()
        versions = api.get(f"/api/projects/{project_id}/versions", headers=auth()).json()
        with api.stream("GET", f"/api/generation/{ready}/events", headers=auth()) as events:
            snapshot = next(json.loads(line[5:]) for line in events.iter_lines()
                            if line.startswith("data:"))
        not_ready = api.post(f"/api/generation/{running}/preview-link", headers=auth())
        theirs = api.post(f"/api/generation/{ready}/preview-link", headers=auth("eve"))
        minted = api.post(f"/api/generation/{ready}/preview-link", headers=auth()).json()
    assert status["preview_url"] == again["preview_url"] == stable
    assert waiting["preview_url"] is None
    assert {b["job_id"]: b["preview_url"] for b in project["builds"]} == {ready: stable,
                                                                         running: None}
    assert [v["preview_url"] for v in versions["versions"]] == [stable]
    assert snapshot["preview_url"] == stable
    assert "127.0.0.1" not in json.dumps([status, project, versions, snapshot])  # no upstream
    assert (not_ready.status_code, not_ready.json()["code"]) == (409, "job_not_ready")
    assert (theirs.status_code, theirs.json()["code"]) == (404, "not_found")
    assert minted["preview_url"] == stable and minted["url"].startswith(stable + "?")
    assert minted["expires_at"].endswith("Z")


def test_a_ready_event_carries_the_stable_url(stack, store, project_id, sandbox_app):
    job_id = job_at(store, project_id, Status.CHECKS)
    with stack.kiln() as api, api.stream("GET", f"/api/generation/{job_id}/events",
                                         headers=auth(), timeout=10) as events:
        payloads = (json.loads(line[5:]) for line in events.iter_lines()
                    if line.startswith("data:"))
        assert next(payloads)["status"] == "checks"  # the snapshot
        store.transition(job_id, Status.READY, **upstream_fields(sandbox_app.upstream))
        ready = next(payloads)
    assert ready["status"] == "ready"
    assert ready["preview_url"] == f"{stack.origin}/preview/{job_id}/"
    assert "preview_upstream" not in ready
