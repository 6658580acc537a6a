"""A project's versions, `based_on` on starts and statuses, and a READY build's files (listed
and as a zip): success paths and every route tried with bad input (401, 404, 409)."""

from __future__ import annotations

import io
import zipfile

import pytest

from domain.status import Status
from tests.web.conftest import auth, job_at, token, walk
from web.export import safe_name, zip_bytes

FILES = {"app.py": "print('hi')\n", "tests/test_app.py": "import unittest\n",
         "README.md": "# Café ☕\n", "kiln.json": "{}\n"}


def ready(store, project_id: str, goal: str = "a recipe box", files: dict | None = None,
          **fields) -> str:
    job_id = store.create_job(project_id, "user-1", "partner", goal, status=Status.CHECKS,
                              **fields).job_id
    assert store.update(job_id, Status.CHECKS, files=files or FILES)
    walk(store, job_id, Status.READY)
    return job_id


def start(api, project_id: str, goal: str = "add tags") -> dict:
    res = api.post("/api/generation/start", json={"project_id": project_id, "goal": goal},
                   headers=auth())
    assert res.status_code == 201, res.text
    return res.json()


def resolve(api, job_id: str, decision: str) -> None:
    gate = api.post(f"/api/generation/{job_id}/preview-viewed", headers=auth()).json()
    res = api.post(f"/api/gates/{gate['gate_id']}/resolve", json={"decision": decision},
                   headers=auth())
    assert res.status_code == 200, res.text


def versions(api, project_id: str) -> dict:
    res = api.get(f"/api/projects/{project_id}/versions", headers=auth())
    assert res.status_code == 200, res.text
    return res.json()


def test_a_project_without_versions(api, user_project):
    pid = user_project["project_id"]
    assert versions(api, pid) == {"project_id": pid, "foundation": None, "next_based_on": None,
                                  "versions": []}
    assert start(api, pid, "a recipe box")["based_on"] is None


def test_the_line_says_what_the_next_build_starts_from(api, store, user_project):
    pid = user_project["project_id"]
    first = ready(store, pid)
    listed = versions(api, pid)
    assert listed["next_based_on"] == "build_v0_1" and listed["foundation"] is None
    [only] = listed["versions"]
    assert only == {"build_version": "build_v0_1", "job_id": first, "goal": "a recipe box",
                    "based_on": None, "created_at": only["created_at"],
                    "ready_at": only["ready_at"], "decision": None, "foundation": False,
                    "preview_url": None, "sandbox_expires_at": None}
    assert only["created_at"].endswith("Z") and only["ready_at"] >= only["created_at"]

    # Iterate: the next build is based on the latest version; the status says so too.
    resolve(api, first, "iterate")
    started = start(api, pid, "add tags")
    assert started["based_on"] == "build_v0_1"
    status = api.get(f"/api/generation/{started['job_id']}/status", headers=auth()).json()
    assert status["based_on"] == "build_v0_1" and status["goal"] == "add tags"
    job = store.get_job(started["job_id"])
    assert (job.based_on, job.based_on_job) == ("build_v0_1", first)
    project = api.get(f"/api/projects/{pid}", headers=auth()).json()
    assert {b["job_id"]: b["based_on"] for b in project["builds"]}[started["job_id"]] == \
        "build_v0_1"


def test_solidify_abandon_and_a_fresh_line(api, store, user_project):
    pid = user_project["project_id"]
    first = ready(store, pid)
    resolve(api, first, "solidify")
    failed = job_at(store, pid, Status.CODE)  # a later build that fails is not a version
    walk(store, failed, Status.FAILED)
    listed = versions(api, pid)
    assert (listed["foundation"], listed["next_based_on"]) == ("build_v0_1", "build_v0_1")
    assert listed["versions"][0]["foundation"] is True
    assert listed["versions"][0]["decision"] == "solidify"

    second = ready(store, pid, "add tags", based_on="build_v0_1", based_on_job=first)
    resolve(api, second, "abandon")
    listed = versions(api, pid)
    assert (listed["foundation"], listed["next_based_on"]) == (None, None)
    assert [(v["build_version"], v["based_on"], v["decision"]) for v in listed["versions"]] == \
        [("build_v0_1", None, "solidify"), ("build_v0_2", "build_v0_1", "abandon")]
    assert start(api, pid, "a book list")["based_on"] is None


def test_files_lists_paths_and_sizes(api, store, user_project):
    job_id = ready(store, user_project["project_id"])
    res = api.get(f"/api/generation/{job_id}/files", headers=auth())
    assert res.status_code == 200
    body = res.json()
    assert body["job_id"] == job_id and body["build_version"] == "build_v0_1"
    assert body["files"] == [{"path": p, "size": len(FILES[p].encode())} for p in sorted(FILES)]
    assert body["total_bytes"] == sum(len(t.encode()) for t in FILES.values())
    assert {"path": "README.md", "size": 12} in body["files"]  # bytes, not 9 characters


def test_the_zip_holds_exactly_the_stored_files(api, store, user_project):
    job_id = ready(store, user_project["project_id"])
    res = api.get(f"/api/generation/{job_id}/files.zip", headers=auth())
    assert res.status_code == 200
    assert res.headers["content-type"] == "application/zip"
    assert res.headers["content-disposition"] == 'attachment; filename="todo-build_v0_1.zip"'
    with zipfile.ZipFile(io.BytesIO(res.content)) as archive:
        assert archive.testzip() is None
        stored = store.files(job_id)
        assert {n: archive.read(n).decode() for n in archive.namelist()} == stored == FILES
    again = api.get(f"/api/generation/{job_id}/files.zip", headers=auth())
    assert again.content == res.content  # the same build downloads the same bytes


@pytest.mark.parametrize("path", ["/api/projects/{project}/versions",
                                  "/api/generation/{job}/files",
                                  "/api/generation/{job}/files.zip"])
def test_every_route_refuses_bad_input(api, store, user_project, path):
    pid = user_project["project_id"]
    job_id = ready(store, pid)
    url = path.format(project=pid, job=job_id)
    assert api.get(url, headers=auth()).status_code == 200
    for headers in ({}, {"Authorization": "Bearer nope"},
                    {"Authorization": f"Bearer {token(ttl_s=-10)}"}):
        res = api.get(url, headers=headers)
        assert (res.status_code, res.json()["code"]) == (401, "unauthorized")
    # Another user's project or job is exactly as missing as a missing one.
    theirs = api.get(url, headers=auth("eve"))
    assert theirs.status_code == 404 and theirs.json()["code"] == "not_found"
    for bad in ("does-not-exist", "x" * 5000, "%2E%2E", "caf%C3%A9", "%00"):
        # A malformed id matches no route (web/ids.py): a 404 before any Redis call.
        res = api.get(path.format(project=bad, job=bad), headers=auth())
        assert (res.status_code, res.json()["code"]) == (404, "not_found"), bad
    assert api.post(url, headers=auth()).status_code == 405


@pytest.mark.parametrize("suffix", ["files", "files.zip"])
@pytest.mark.parametrize("status", [Status.QUEUED, Status.CODE, Status.FAILED])
def test_a_build_that_is_not_ready_has_no_files_to_export(api, store, user_project, suffix,
                                                           status):
    job_id = job_at(store, user_project["project_id"], Status.CODE)
    assert store.update(job_id, Status.CODE, files=FILES)  # a failed build has files too
    if status == Status.QUEUED:
        job_id = job_at(store, user_project["project_id"], Status.QUEUED)
    elif status == Status.FAILED:
        walk(store, job_id, Status.FAILED)
    res = api.get(f"/api/generation/{job_id}/{suffix}", headers=auth())
    assert res.status_code == 409 and res.json()["code"] == "job_not_ready"


def test_the_zip_never_carries_an_escaping_path():
    assert [safe_name(p) for p in ("a/b.py", "../x", "/etc/x", "a/../../x", "a\\..\\x", "")] \
        == [True, False, False, False, False, False]
    data = zip_bytes({"ok.txt": "fine", "../evil": "x", "/abs": "x"}, 0.0)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == ["ok.txt"]
        assert archive.getinfo("ok.txt").date_time == (1980, 1, 1, 0, 0, 0)
