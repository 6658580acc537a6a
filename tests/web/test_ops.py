"""Usage, health, readiness, metrics, the schema and the build page."""

from __future__ import annotations

import mimetypes
import re

import httpx

from domain.settings import Settings
from domain.status import Status
from tests.web.conftest import auth, job_at, serve
from web.app import create_app
from web.routes.health import JAVASCRIPT, STATIC


def test_usage(api, user_project):
    api.post("/api/generation/start", json={"project_id": user_project["project_id"],
                                            "goal": "x"}, headers=auth())
    body = api.get("/api/usage", headers=auth()).json()
    assert body["tier"] == "partner" and body["jobs_used"] == 1
    assert body["jobs_remaining"] == 49 and body["resets_at"].endswith("Z")
    none = api.get("/api/usage", headers=auth(tier=None)).json()
    assert none["tier"] is None and none["jobs_remaining"] == 0


def test_health_and_ready(api):
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").json() == {"status": "ready"}


def test_ready_is_503_without_redis(web_settings):
    down = Settings(**{**web_settings.__dict__, "redis_url": "redis://127.0.0.1:1/0"})
    with serve(create_app(down)) as url:
        res = httpx.get(url + "/readyz", timeout=10)
        assert httpx.get(url + "/healthz", timeout=10).status_code == 200
    assert res.status_code == 503 and res.json()["code"] == "redis_unavailable"


def test_metrics(api, store, user_project):
    job_at(store, user_project["project_id"], Status.CODE)
    job = job_at(store, user_project["project_id"], Status.CODE)
    api.post(f"/api/generation/{job}/cancel", headers=auth())
    res = api.get("/metrics")
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/plain")
    text = res.text
    for name in ("kiln_jobs{", "kiln_queue_depth", "kiln_live_sandboxes",
                 "kiln_cancel_latency_seconds_bucket", "kiln_stage_duration_seconds"):
        assert name in text, name
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines()
             if line and not line.startswith("#")}
    assert all(n.startswith("kiln_") for n in names), names


def test_openapi_describes_every_route(api, live):
    schema = api.get("/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    documented = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
    served = {(m, r.path.replace(":id}", "}")) for r in live.app.routes if hasattr(r, "methods")
              for m in r.methods if m != "HEAD"}
    assert served == documented


def test_index(api):
    res = api.get("/")
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/html")


MODULE_IMPORT = re.compile(r'^import .* from "\./([\w-]+\.js)";$', re.M)


def test_the_build_page_modules_are_served_as_javascript(api):
    # The page is ES modules: the entry named by index.html and everything it imports must be
    # served, each as JavaScript (a browser runs no module of another type).
    [entry] = re.findall(r'<script type="module" src="(/static/[\w-]+\.js)"></script>',
                         api.get("/").text)
    seen: set[str] = set()
    todo = [entry]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        res = api.get(path)
        assert res.status_code == 200, path
        assert res.headers["content-type"] == JAVASCRIPT, path
        # Revalidated on every load: never an old module cached next to a new one.
        assert res.headers["cache-control"] == "no-cache", path
        again = api.get(path, headers={"If-None-Match": res.headers["etag"]})
        assert again.status_code == 304 and again.headers["cache-control"] == "no-cache", path
        todo += [f"/static/{name}" for name in MODULE_IMPORT.findall(res.text)]
    # Every module in web/static is part of the page (none is left behind by a split).
    assert seen == {f"/static/{p.name}" for p in STATIC.glob("*.js")}
    assert api.get("/static/app.css").headers["content-type"].startswith("text/css")


def test_modules_are_javascript_whatever_the_hosts_mime_types_say(api, monkeypatch):
    mimetypes.guess_type("app.js")  # the host's table is loaded; then it misnames .js
    monkeypatch.setitem(mimetypes.types_map, ".js", "text/plain")
    assert mimetypes.guess_type("app.js")[0] == "text/plain"
    res = api.get("/static/app.js")
    assert res.status_code == 200 and res.headers["content-type"] == JAVASCRIPT


def test_metrics_with_a_token_want_it_as_a_bearer_token(web_settings, monkeypatch):
    """The attack: /metrics was open to anyone who could reach the web port. With
    KILN_METRICS_TOKEN set, nothing but that token (not a user's API token, not the query
    string) reads it."""
    metrics_token = "metrics-token-0123456789abcdef"
    monkeypatch.setenv("KILN_METRICS_TOKEN", metrics_token)
    settings = Settings(**{**web_settings.__dict__,
                           "metrics_token": Settings.from_env().metrics_token})
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=10) as client:
        refused = [client.get("/metrics"),
                   client.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}x"}),
                   client.get("/metrics", headers={"Authorization": f"Basic {metrics_token}"}),
                   client.get("/metrics", headers=auth()),  # a user's API token
                   client.get(f"/metrics?access_token={metrics_token}")]
        for res in refused:
            assert res.status_code == 401 and res.json()["code"] == "unauthorized"
            assert res.headers["www-authenticate"] == "Bearer"
            assert "kiln_" not in res.text
        res = client.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"})
        assert res.status_code == 200 and "kiln_queue_depth" in res.text
