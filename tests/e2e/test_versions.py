"""A project is a line of versions, end to end through the HTTP API with real workers and
sandboxes: iterate (each version keeps the one before and adds its change), solidify (a failed
iteration never moves the base), abandon (the next build starts fresh), export (the zip is the
stored tree)."""

from __future__ import annotations

import io
import json
import zipfile

from tests.e2e.conftest import field_names, preview_spec
from tests.support.generators import BreaksOnRequest
from tests.web.conftest import auth


def test_a_three_version_line_keeps_every_feature(kiln, pipeline):
    pid = kiln.project("Recipes")
    v1 = kiln.build(pid, "a recipe box")
    assert (v1["status"], v1["build_version"], v1["based_on"]) == ("ready", "build_v0_1", None)
    assert field_names(kiln, v1) == ["title", "ingredients"]
    kiln.decide(v1["job_id"], "iterate")

    v2 = kiln.build(pid, "add tags")
    assert (v2["status"], v2["build_version"], v2["based_on"]) == \
        ("ready", "build_v0_2", "build_v0_1")
    assert field_names(kiln, v2) == ["title", "ingredients", "tags"]
    made = kiln.preview(v2, "POST", "api/items",
                        json={"title": "Pancakes", "ingredients": "flour, milk",
                              "tags": "breakfast, sweet"})
    assert made.status_code == 201 and made.json()["tags"] == ["breakfast", "sweet"]

    # No decision on v2: the next build still starts from the newest version.
    v3 = kiln.build(pid, "add ratings and make it searchable")
    assert (v3["status"], v3["build_version"], v3["based_on"]) == \
        ("ready", "build_v0_3", "build_v0_2")
    spec = preview_spec(kiln, v3)
    assert [f["name"] for f in spec["fields"]] == ["title", "ingredients", "tags", "rating"]
    assert spec["search"] is True
    assert preview_spec(kiln, v1)["fields"][-1]["name"] == "ingredients"  # v1 still serves v1

    line = kiln.versions(pid)
    assert [(v["build_version"], v["based_on"], v["goal"], v["decision"])
            for v in line["versions"]] == [
        ("build_v0_1", None, "a recipe box", "iterate"),
        ("build_v0_2", "build_v0_1", "add tags", None),
        ("build_v0_3", "build_v0_2", "add ratings and make it searchable", None)]
    assert (line["next_based_on"], line["foundation"]) == ("build_v0_3", None)
    stored = json.loads(pipeline.svc.store.files(v3["job_id"])["app_spec.json"])
    assert [c["request"] for c in stored["changes"]] == [
        "add tags", "add ratings and make it searchable"]


def test_solidify_then_a_failed_iteration_then_a_build_from_the_foundation(kiln, pipeline):
    pipeline.use(generator=BreaksOnRequest())
    pid = kiln.project("Todos")
    v1 = kiln.build(pid, "a todo list")
    assert v1["status"] == "ready" and field_names(kiln, v1) == ["title", "done"]
    kiln.decide(v1["job_id"], "solidify")

    failed = kiln.build(pid, f"add tags {BreaksOnRequest.MARK}")
    assert (failed["status"], failed["failed_stage"], failed["based_on"]) == \
        ("failed", "checks", "build_v0_1")
    assert failed["build_version"] is None
    # Its code was stored (it reached checks), with tags: exactly what must not leak.
    assert "tags" in pipeline.svc.store.files(failed["job_id"])["app_spec.json"]
    line = kiln.versions(pid)
    assert (line["foundation"], line["next_based_on"]) == ("build_v0_1", "build_v0_1")
    assert [v["build_version"] for v in line["versions"]] == ["build_v0_1"]

    v2 = kiln.build(pid, "add due dates")
    assert (v2["status"], v2["build_version"], v2["based_on"]) == \
        ("ready", "build_v0_2", "build_v0_1")
    assert field_names(kiln, v2) == ["title", "done", "due"]  # the foundation's, not the failure's
    line = kiln.versions(pid)
    assert (line["foundation"], line["next_based_on"]) == ("build_v0_1", "build_v0_2")
    assert [v["foundation"] for v in line["versions"]] == [True, False]


def test_abandon_then_a_fresh_build(kiln):
    pid = kiln.project("Ideas")
    v1 = kiln.build(pid, "a recipe box with tags")
    kiln.decide(v1["job_id"], "abandon")
    line = kiln.versions(pid)
    assert (line["next_based_on"], line["foundation"]) == (None, None)

    v2 = kiln.build(pid, "a book list with ratings")
    assert (v2["status"], v2["build_version"], v2["based_on"]) == ("ready", "build_v0_2", None)
    spec = preview_spec(kiln, v2)
    assert spec["collection"]["plural"] == "books"
    assert [f["name"] for f in spec["fields"]] == ["title", "author", "rating"]
    line = kiln.versions(pid)
    assert [(v["build_version"], v["based_on"], v["decision"]) for v in line["versions"]] == [
        ("build_v0_1", None, "abandon"), ("build_v0_2", None, None)]
    assert line["next_based_on"] == "build_v0_2"  # a new line starts at the fresh version


def test_the_zip_is_the_stored_source_tree(kiln, pipeline):
    pid = kiln.project("Export")
    v1 = kiln.build(pid, "a workout log with dates")
    v2 = kiln.build(pid, "add minutes")
    assert v2["status"] == "ready" and v2["based_on"] == "build_v0_1"
    for version in (v1, v2):
        job_id = version["job_id"]
        stored = pipeline.svc.store.files(job_id)
        res = kiln.client.get(f"/api/generation/{job_id}/files.zip", headers=auth())
        assert res.status_code == 200 and res.headers["content-type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(res.content)) as archive:
            assert {n: archive.read(n).decode() for n in archive.namelist()} == stored
        listed = kiln.get(f"/api/generation/{job_id}/files")
        assert [(f["path"], f["size"]) for f in listed["files"]] == \
            [(p, len(stored[p].encode())) for p in sorted(stored)]
        # The tree is the whole app (what the next version starts from), and it runs.
        assert {"app.py", "page.html", "app_spec.json", "kiln.json",
                "tests/test_app.py"} <= set(stored)
    assert "minutes" in pipeline.svc.store.files(v2["job_id"])["app_spec.json"]
