"""Ids are checked at the edge. The attack: ids are parts of Redis key names, so
`<job_id>:events` named the job's event stream and `<project_id>:jobs` the project's job index;
such a request got a 500 (WRONGTYPE) for the caller's own or another user's real job and a 404
for a missing one, which told anyone which ids exist. Now every route that takes an id (the
list comes from the routing table, so a new route is covered too) answers a malformed id with a
404 before any Redis call, and another user's resource exactly like a missing one."""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.routing import Route

from domain.ids import is_id, new_id
from domain.settings import Settings
from domain.status import Status
from tests.web.conftest import auth, job_at, serve, walk
from web.app import create_app, routes
from web.ids import IdConvertor

_PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")


def _id_routes() -> list[tuple[str, str]]:
    """(method, path template) of every route with a path parameter."""
    return [(method, route.path) for route in routes() if isinstance(route, Route)
            and route.param_convertors for method in sorted(route.methods or ()) if method != "HEAD"]


def _path(template: str, value: str | dict[str, str]) -> str:
    return _PARAM.sub(lambda m: value if isinstance(value, str) else value[m.group(1)], template)


@pytest.fixture
def owned(api, store, user_project) -> dict[str, str]:
    """A project, a READY job (with its event stream) and a gate of user-1."""
    project_id = user_project["project_id"]
    job_id = job_at(store, project_id, Status.CHECKS)
    walk(store, job_id, Status.READY)
    gate = api.post(f"/api/generation/{job_id}/preview-viewed", headers=auth()).json()
    return {"project_id": project_id, "job_id": job_id, "gate_id": gate["gate_id"]}


def _attacks(owned: dict[str, str]) -> list[str]:
    job, project = owned["job_id"], owned["project_id"]
    return [f"{job}:events", f"{project}:jobs", f"{project}:gates", f"{job}:cancel",
            f"{job}:files", job.upper(), job[:-1], job + "0", f"kiln:job:{job}", "*", "%2A",
            f"{job}%3Aevents", "0" * 31 + "g"]


def test_every_id_in_a_path_goes_through_the_id_convertor():
    found = _id_routes()
    assert len(found) >= 7  # status, events, cancel, preview-viewed, project, gates, resolve
    for route in routes():
        if isinstance(route, Route):
            for name, convertor in route.param_convertors.items():
                assert isinstance(convertor, IdConvertor), f"{route.path}: {name} unchecked"
    assert all(is_id(new_id()) for _ in range(100))  # what is minted is what is let in


@pytest.mark.parametrize(("method", "template"), _id_routes())
def test_a_malformed_id_is_a_404_on_every_route(api, owned, method, template):
    for attack in _attacks(owned):
        res = api.request(method, _path(template, attack), headers=auth(),
                          json={"decision": "abandon"})
        assert res.status_code == 404, (attack, res.text)
        assert res.json()["code"] == "not_found", attack


@pytest.mark.parametrize(("method", "template"), _id_routes())
def test_another_users_resource_answers_exactly_like_a_missing_one(api, owned, method,
                                                                    template):
    theirs = api.request(method, _path(template, owned), headers=auth("eve"),
                         json={"decision": "abandon"})
    missing = api.request(method, _path(template, new_id()), headers=auth("eve"),
                          json={"decision": "abandon"})
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    assert theirs.headers.get("content-type") == missing.headers.get("content-type")


def test_a_malformed_project_id_in_a_start_is_a_missing_project(api, owned):
    for attack in _attacks(owned):
        res = api.post("/api/generation/start", headers=auth(),
                       json={"project_id": attack, "goal": "a todo app"})
        missing = api.post("/api/generation/start", headers=auth(),
                           json={"project_id": new_id(), "goal": "a todo app"})
        assert res.status_code == missing.status_code == 404, attack
        assert res.json() == missing.json()


def test_a_malformed_id_never_reaches_redis(web_settings):
    """With Redis unreachable, any Redis call is a 503: the malformed ids stay 404."""
    down = Settings(**{**web_settings.__dict__, "redis_url": "redis://127.0.0.1:1/0"})
    job = new_id()
    with serve(create_app(down)) as url, httpx.Client(base_url=url, timeout=10) as client:
        for method, template in _id_routes():
            for value, status in ((f"{job}:events", 404), (job.upper(), 404), (job, 503)):
                res = client.request(method, _path(template, value), headers=auth(),
                                     json={"decision": "abandon"})
                assert res.status_code == status, (method, template, value, res.text)
        for value, status in ((f"{job}:jobs", 404), (job, 503)):
            res = client.post("/api/generation/start", headers=auth(),
                              json={"project_id": value, "goal": "a todo app"})
            assert res.status_code == status, (value, res.text)
