"""Gates: list per project, resolve with a decision (409 twice, 422 bad decision, 404 not
yours); resolving lets the project start again."""

from __future__ import annotations

import pytest

from domain.gates import GATE_PROMPT
from domain.ids import new_id
from domain.status import Status
from tests.web.conftest import auth, job_at, walk


@pytest.fixture
def gate(api, store, user_project):
    job_id = job_at(store, user_project["project_id"], Status.CHECKS)
    walk(store, job_id, Status.READY)
    return api.post(f"/api/generation/{job_id}/preview-viewed", headers=auth()).json()


def test_list_and_resolve(api, user_project, gate):
    project_id = user_project["project_id"]
    listed = api.get(f"/api/projects/{project_id}/gates", headers=auth())
    assert listed.status_code == 200
    [only] = listed.json()["gates"]
    assert only["gate_id"] == gate["gate_id"] and only["status"] == "pending"
    assert only["type"] == "solidification" and only["decision"] is None
    res = api.post(f"/api/gates/{gate['gate_id']}/resolve", json={"decision": "solidify"},
                   headers=auth())
    assert res.status_code == 200
    assert res.json()["status"] == "resolved" and res.json()["decision"] == "solidify"
    project = api.get(f"/api/projects/{project_id}", headers=auth()).json()
    assert project["pending_gate"] is None
    started = api.post("/api/generation/start", json={"project_id": project_id, "goal": "v2"},
                       headers=auth())
    assert started.status_code == 201
    again = api.post(f"/api/gates/{gate['gate_id']}/resolve", json={"decision": "iterate"},
                     headers=auth())
    assert again.status_code == 409 and again.json()["code"] == "gate_resolved"


def test_preview_viewed_answers_with_the_gates_prompt(api, store, user_project, gate):
    # The build page asks the gate's own question: the answer carries it, also when the gate
    # was created by an earlier view.
    [listed] = api.get(f"/api/projects/{user_project['project_id']}/gates",
                       headers=auth()).json()["gates"]
    assert gate["status"] == "gate_created" and gate["prompt"] == listed["prompt"] == GATE_PROMPT
    again = api.post(f"/api/generation/{listed['job_id']}/preview-viewed", headers=auth()).json()
    assert again == {"gate_id": gate["gate_id"], "status": "gate_already_created",
                     "prompt": GATE_PROMPT}


@pytest.mark.parametrize("body", [{}, {"decision": "maybe"}, {"decision": 1},
                                  {"decision": None}])
def test_resolve_invalid_is_422(api, gate, body):
    res = api.post(f"/api/gates/{gate['gate_id']}/resolve", json=body, headers=auth())
    assert res.status_code == 422 and res.json()["code"] == "invalid_request"


def test_other_users_gates_are_404(api, user_project, gate):
    theirs = api.post(f"/api/gates/{gate['gate_id']}/resolve", json={"decision": "abandon"},
                      headers=auth("eve"))
    missing = api.post(f"/api/gates/{new_id()}/resolve", json={"decision": "abandon"},
                       headers=auth("eve"))
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    listed = api.get(f"/api/projects/{user_project['project_id']}/gates", headers=auth("eve"))
    assert listed.status_code == 404


def test_newer_build_supersedes_pending_gate(api, store, user_project, gate):
    job_id = job_at(store, user_project["project_id"], Status.CHECKS)
    walk(store, job_id, Status.READY)
    newer = api.post(f"/api/generation/{job_id}/preview-viewed", headers=auth()).json()
    assert newer["status"] == "gate_created" and newer["gate_id"] != gate["gate_id"]
    gates = api.get(f"/api/projects/{user_project['project_id']}/gates",
                    headers=auth()).json()["gates"]
    assert [(g["status"], g["resolution"]) for g in gates] == [("resolved", "superseded"),
                                                               ("pending", None)]
