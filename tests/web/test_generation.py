"""Start, status, cancel and preview-viewed: success paths and their 403/404/409/422/503; the
pipeline's labels."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from domain.failures import CANCELLED_MESSAGE
from domain.ids import new_id
from domain.settings import Settings
from domain.status import CANCELLED_LABEL, PROGRESS, STAGE_LABELS, TERMINAL, Status
from tests.support.store_reads import cancel_flag, history
from tests.support.waiting import join_all
from tests.web.conftest import auth, job_at, serve, walk
from web import views
from web.app import create_app

STATUS_FIELDS = {"job_id", "project_id", "status", "stage_label", "progress", "queue_position",
                 "eta_seconds", "preview_url", "build_version", "error_message", "debug_id",
                 "sandbox_expires_at", "cancelled", "attempt", "iteration", "created_at",
                 "updated_at"}


def _start(api, project_id, user="user-1", goal="a todo app", **headers):
    return api.post("/api/generation/start", json={"project_id": project_id, "goal": goal},
                    headers={**auth(user), **headers})


def _starting_messages(broker_r) -> list[dict]:
    """The messages the app sent, in the broker's database (KILN_BROKER_DB)."""
    return [json.loads(m) for m in broker_r.hvals("dramatiq:kiln.msgs")]


def test_start_creates_job_and_sends_starting(api, r, broker_r, user_project):
    res = _start(api, user_project["project_id"])
    assert res.status_code == 201, res.text
    body = res.json()
    assert set(body) == {"job_id", "status", "build_version", "queue_position", "scheduled_for",
                         "based_on"}
    assert body["status"] == "queued" and body["build_version"] == "build_v0_1"
    assert body["scheduled_for"] is None and body["based_on"] is None
    sent = _starting_messages(broker_r)
    assert not r.exists("dramatiq:kiln.msgs")  # nothing of Dramatiq's in Kiln's database
    assert [(m["actor_name"], m["args"]) for m in sent] == [("stage_starting",
                                                             [body["job_id"], 1, 0])]


def test_status_has_every_field(api, store, user_project):
    job_id = _start(api, user_project["project_id"]).json()["job_id"]
    res = api.get(f"/api/generation/{job_id}/status", headers=auth())
    assert res.status_code == 200
    body = res.json()
    assert set(body) >= STATUS_FIELDS and body["goal"] == "a todo app"
    assert body["stage_label"] == STAGE_LABELS[Status.QUEUED] and body["progress"] == 0.0
    assert body["debug_id"].startswith("dbg_") and body["cancelled"] is False
    walk(store, job_id, Status.STARTING, Status.SCAFFOLD, Status.CODE)
    body = api.get(f"/api/generation/{job_id}/status", headers=auth()).json()
    assert (body["status"], body["stage_label"]) == ("code", "Writing code...")
    assert body["progress"] == 0.45 and body["queue_position"] is None


def test_a_polled_status_follows_the_job(api, store, user_project):
    # A job that does not wait answers from a body cached by its fields: every change shows,
    # the body is what the job's record renders to, and ownership is still checked first.
    job_id = job_at(store, user_project["project_id"], Status.CODE)
    path = f"/api/generation/{job_id}/status"
    first, again = (api.get(path, headers=auth()) for _ in range(2))
    assert first.status_code == again.status_code == 200 and first.content == again.content
    assert first.headers["content-type"] == "application/json"
    assert first.json() == views.job_status(store.redis.hgetall(store.keys.job(job_id)))
    assert api.get(path, headers=auth("eve")).status_code == 404
    walk(store, job_id, Status.DEPS)
    body = api.get(path, headers=auth()).json()
    assert body == views.job_status(store.redis.hgetall(store.keys.job(job_id)))
    assert body["status"] == "deps" and body != first.json()


def test_queued_job_has_position_and_eta(api, store, user_project):
    # Fill the user's three partner slots, so the fourth waits in the queue.
    ids = [_start(api, user_project["project_id"]).json() for _ in range(4)]
    assert [b["queue_position"] for b in ids] == [None, None, None, 1]
    body = api.get(f"/api/generation/{ids[3]['job_id']}/status", headers=auth()).json()
    assert body["queue_position"] == 1 and body["eta_seconds"] >= 0


def test_start_other_users_project_is_404(api, user_project):
    res = _start(api, user_project["project_id"], user="mallory")
    missing = _start(api, "no-such-project", user="mallory")
    assert res.status_code == missing.status_code == 404
    assert res.json() == missing.json()


@pytest.mark.parametrize("body", [
    {}, {"project_id": "p"}, {"goal": "x"}, {"project_id": 1, "goal": "x"},
    {"project_id": "p", "goal": ["x"]}, {"project_id": "p", "goal": ""},
    {"project_id": "p", "goal": "x" * 4001}, {"project_id": None, "goal": "x"}])
def test_start_invalid_is_422(api, body):
    res = api.post("/api/generation/start", json=body, headers=auth())
    assert res.status_code == 422 and res.json()["code"] == "invalid_request"


def test_goal_of_4000_chars_is_fine(api, user_project):
    assert _start(api, user_project["project_id"], goal="x" * 4000).status_code == 201


def test_pending_gate_blocks_start(api, store, user_project):
    job_id = job_at(store, user_project["project_id"], Status.CHECKS)
    walk(store, job_id, Status.READY)
    assert api.post(f"/api/generation/{job_id}/preview-viewed", headers=auth()).status_code == 200
    res = _start(api, user_project["project_id"])
    assert res.status_code == 409 and res.json()["code"] == "gate_pending"


def test_queue_full_is_503_with_retry_after(web_settings, r, store):
    settings = Settings(**{**web_settings.__dict__, "queue_cap": 1, "global_sandbox_cap": 0})
    project = store.create_project("user-1", "Full")
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=10) as api:
        assert _start(api, project["project_id"]).status_code == 201
        res = _start(api, project["project_id"])
    assert res.status_code == 503 and res.json()["code"] == "queue_full"
    assert int(res.headers["Retry-After"]) >= 1


def test_idempotency_key_returns_the_same_job(api, r, user_project):
    first = _start(api, user_project["project_id"], **{"Idempotency-Key": "abc-1"})
    again = _start(api, user_project["project_id"], **{"Idempotency-Key": "abc-1"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = _start(api, user_project["project_id"], **{"Idempotency-Key": "abc-2"})
    assert other.json()["job_id"] != first.json()["job_id"]
    reused = _start(api, user_project["project_id"], goal="different",
                    **{"Idempotency-Key": "abc-1"})
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    assert 0 < r.ttl("kiln:idem:user-1:abc-1") <= 24 * 3600


def test_concurrent_retries_with_one_key_create_one_job(api, live, user_project):
    def call(_):
        with httpx.Client(base_url=live.url, timeout=10) as client:
            return _start(client, user_project["project_id"], **{"Idempotency-Key": "k"})
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, range(8)))
    assert {r.status_code for r in results} == {201}
    assert len({r.json()["job_id"] for r in results}) == 1


def test_status_of_other_users_job_is_404(api, store, user_project):
    job_id = job_at(store, user_project["project_id"], Status.CODE)
    for method, path in [("GET", "status"), ("POST", "cancel"), ("POST", "preview-viewed")]:
        theirs = api.request(method, f"/api/generation/{job_id}/{path}", headers=auth("eve"))
        missing = api.request(method, f"/api/generation/{new_id()}/{path}", headers=auth("eve"))
        assert theirs.status_code == missing.status_code == 404
        assert theirs.json() == missing.json()


def test_cancel(api, store, user_project):
    job_id = job_at(store, user_project["project_id"], Status.CODE)
    res = api.post(f"/api/generation/{job_id}/cancel", headers=auth())
    assert res.status_code == 200
    assert res.json() == {"job_id": job_id, "status": "cancelled", "message": "Build cancelled"}
    job = store.get_job(job_id)
    assert job.status == Status.FAILED and job.cancelled and cancel_flag(store, job_id)
    assert job.error_message == CANCELLED_MESSAGE
    status = api.get(f"/api/generation/{job_id}/status", headers=auth()).json()
    assert status["cancelled"] is True and status["error_message"] == CANCELLED_MESSAGE
    again = api.post(f"/api/generation/{job_id}/cancel", headers=auth())
    assert again.status_code == 409 and again.json()["code"] == "job_terminal"


def test_pipeline_lists_every_status_with_its_label_and_progress(api, store, user_project):
    # What the build page draws comes from here (it keeps no copy): no token needed.
    res = api.get("/api/pipeline")
    assert res.status_code == 200
    body = res.json()
    assert [s["status"] for s in body["statuses"]] == [s.value for s in Status]
    assert {s["status"]: (s["label"], s["progress"], s["terminal"]) for s in body["statuses"]} == {
        s.value: (STAGE_LABELS[s], PROGRESS[s], s in TERMINAL) for s in Status}
    # The same words a build's own status and cancel answers use.
    job_id = job_at(store, user_project["project_id"], Status.CODE)
    status = api.get(f"/api/generation/{job_id}/status", headers=auth()).json()
    code = next(s for s in body["statuses"] if s["status"] == "code")
    assert (status["stage_label"], status["progress"]) == (code["label"], code["progress"])
    cancelled = api.post(f"/api/generation/{job_id}/cancel", headers=auth()).json()
    assert body["cancelled_label"] == cancelled["message"] == CANCELLED_LABEL


def test_cancel_admits_the_next_job(api, broker_r, user_project):
    ids = [_start(api, user_project["project_id"]).json()["job_id"] for _ in range(4)]
    assert len(_starting_messages(broker_r)) == 3
    assert api.post(f"/api/generation/{ids[0]}/cancel", headers=auth()).status_code == 200
    assert {m["args"][0] for m in _starting_messages(broker_r)} == set(ids)


def test_a_build_cancelled_before_it_started_does_not_count_against_the_quota(api, store,
                                                                             user_project):
    def used() -> int:
        return api.get("/api/usage", headers=auth()).json()["jobs_used"]

    waiting = _start(api, user_project["project_id"]).json()["job_id"]  # queued, admitted
    running = _start(api, user_project["project_id"]).json()["job_id"]
    walk(store, running, Status.STARTING)  # a worker took this one
    assert used() == 2
    assert api.post(f"/api/generation/{waiting}/cancel", headers=auth()).status_code == 200
    assert used() == 1  # never started: its unit is back
    assert api.post(f"/api/generation/{running}/cancel", headers=auth()).status_code == 200
    assert used() == 1  # it started: it counts


def test_cancel_races_ready(api, live, store, user_project):
    for _ in range(15):
        job_id = job_at(store, user_project["project_id"], Status.CHECKS)
        barrier = threading.Barrier(2, timeout=30)
        outcome = {}

        def finish(job_id=job_id, barrier=barrier, outcome=outcome):
            barrier.wait()
            outcome["ready"] = store.transition(job_id, Status.READY).ok

        thread = threading.Thread(target=finish)
        thread.start()
        barrier.wait()
        res = api.post(f"/api/generation/{job_id}/cancel", headers=auth())
        join_all([thread], 30, "the READY transition")
        job = store.get_job(job_id)
        last = history(store, job_id)[-1][1]
        assert (res.status_code == 200) != outcome["ready"]  # exactly one side won
        if outcome["ready"]:
            assert res.status_code == 409 and job.status == Status.READY
            assert not job.cancelled and not cancel_flag(store, job_id)
            assert last["status"] == "ready"
        else:
            assert job.status == Status.FAILED and job.cancelled and cancel_flag(store, job_id)
            assert last["status"] == "failed" and last["cancelled"] == "1"


def test_preview_viewed(api, store, user_project):
    job_id = job_at(store, user_project["project_id"], Status.DEPS)
    res = api.post(f"/api/generation/{job_id}/preview-viewed", headers=auth())
    assert res.status_code == 409 and res.json()["code"] == "job_not_ready"
    walk(store, job_id, Status.CHECKS, Status.READY)
    first = api.post(f"/api/generation/{job_id}/preview-viewed", headers=auth()).json()
    second = api.post(f"/api/generation/{job_id}/preview-viewed", headers=auth()).json()
    assert first["status"] == "gate_created" and second["status"] == "gate_already_created"
    assert first["gate_id"] == second["gate_id"]
    project = api.get(f"/api/projects/{user_project['project_id']}", headers=auth()).json()
    assert project["pending_gate"]["gate_id"] == first["gate_id"]
    assert project["pending_gate"]["build_version"] == "build_v0_1"


def test_concurrent_preview_viewed_creates_one_gate(api, live, store, user_project):
    job_id = job_at(store, user_project["project_id"], Status.CHECKS)
    walk(store, job_id, Status.READY)
    barrier = threading.Barrier(2, timeout=30)

    def view(_):
        with httpx.Client(base_url=live.url, timeout=10) as client:
            barrier.wait()
            return client.post(f"/api/generation/{job_id}/preview-viewed", headers=auth()).json()
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(view, range(2)))
    assert sorted(r["status"] for r in results) == ["gate_already_created", "gate_created"]
    assert len({r["gate_id"] for r in results}) == 1
