"""Projects: create, list own, read with builds and pending gate; 404 and 422 cases."""

from __future__ import annotations

import pytest

from domain.ids import new_id
from domain.status import Status
from tests.web.conftest import auth, job_at


def test_create_list_read(api, store):
    res = api.post("/api/projects", json={"name": "  Todo  "}, headers=auth())
    assert res.status_code == 201
    created = res.json()
    assert set(created) == {"project_id", "name", "created_at"}
    assert created["name"] == "Todo" and created["created_at"].endswith("Z")
    job_id = job_at(store, created["project_id"], Status.CODE)

    listed = api.get("/api/projects", headers=auth()).json()["projects"]
    assert [p["project_id"] for p in listed] == [created["project_id"]]
    one = api.get(f"/api/projects/{created['project_id']}", headers=auth())
    assert one.status_code == 200
    body = one.json()
    assert body["pending_gate"] is None
    assert [(b["job_id"], b["status"]) for b in body["builds"]] == [(job_id, "code")]


def test_only_own_projects(api):
    mine = api.post("/api/projects", json={"name": "Mine"}, headers=auth("alice")).json()
    api.post("/api/projects", json={"name": "Theirs"}, headers=auth("bob"))
    listed = api.get("/api/projects", headers=auth("alice")).json()["projects"]
    assert [p["name"] for p in listed] == ["Mine"]
    other = api.get(f"/api/projects/{mine['project_id']}", headers=auth("bob"))
    missing = api.get(f"/api/projects/{new_id()}", headers=auth("bob"))
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'"name"', b"{}", b'{"name": 5}',
                                  b'{"name": null}', b'{"name": "   "}',
                                  b'{"name": "' + b"x" * 201 + b'"}', b"[" * 30000,
                                  b'{"name": "\\ud800"}', b"\xff\xfe"])
def test_create_invalid_is_422(api, body):
    res = api.post("/api/projects", content=body,
                   headers={**auth(), "Content-Type": "application/json"})
    assert res.status_code == 422
    assert res.json()["code"] == "invalid_request"


def test_body_too_large_is_413_json(api):
    res = api.post("/api/projects", content=b"x" * 70_000, headers=auth())
    assert res.status_code == 413 and res.json()["code"] == "payload_too_large"
