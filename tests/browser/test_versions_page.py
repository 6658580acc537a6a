"""The project's line on the build page, in a real browser against a real Kiln (uvicorn,
dramatiq workers with the template generator, Redis): iterate, then build a change on the
version, see the line, open an older version's preview, download a version's files."""

from __future__ import annotations

import re
import zipfile

import pytest
from playwright.sync_api import expect

from domain.gates import GATE_PROMPT
from domain.status import STAGE_LABELS, Status

from .conftest import KilnStack
from .test_build_page import BUILD_TIMEOUT_MS, screenshots, sign_in, start_build

pytestmark = pytest.mark.browser


def decide(page, name: str) -> None:
    gate = page.get_by_role("region", name=GATE_PROMPT)
    expect(gate).to_be_visible(timeout=15_000)
    gate.get_by_role("button", name=re.compile(f"^{name}")).click()
    expect(gate.get_by_role("status")).to_contain_text(f"Decision saved: {name}")


def test_the_line_of_versions_on_the_build_page(kiln_stack: KilnStack, template_workers: object,
                                                 page_factory, tmp_path) -> None:
    page = page_factory(1280, 900)
    token = sign_in(page, kiln_stack, "browser-line")
    page.get_by_text("New project", exact=True).click()
    page.get_by_label("New project name").fill("Recipes")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#project-select option:checked")).to_have_text("Recipes")
    versions = page.get_by_role("region", name="Versions")
    expect(versions).to_be_hidden()

    # The first version, then "keep iterating" on it.
    start_build(page, "a recipe box")
    label, frame = page.locator("#stage-label"), page.frame_locator("#preview-frame")
    expect(label).to_have_text(STAGE_LABELS[Status.READY], timeout=BUILD_TIMEOUT_MS)
    expect(frame.get_by_label("Ingredients")).to_be_visible(timeout=15_000)
    decide(page, "Keep iterating")
    expect(versions.get_by_role("listitem")).to_have_count(1)
    expect(page.locator("#versions-next")).to_contain_text("starts from build_v0_1")

    # The next build is a change to it: the preview keeps the recipe's fields and adds tags.
    page.get_by_label("Describe a change to build_v0_1").fill("add tags")
    page.get_by_role("button", name="Build it").click()
    expect(page.locator("#build-goal")).to_have_text("Change to build_v0_1: add tags")
    expect(label).to_have_text(STAGE_LABELS[Status.READY], timeout=BUILD_TIMEOUT_MS)
    expect(page.locator("#ready-version")).to_have_text("build_v0_2")
    expect(page.locator("#ready-base")).to_have_text("build_v0_1")
    expect(frame.get_by_label("Tags")).to_be_visible(timeout=15_000)
    expect(frame.get_by_label("Ingredients")).to_be_visible()
    decide(page, "Solidify")

    # The line, newest first, with what each version is based on and its decision.
    items = versions.get_by_role("listitem")
    expect(items).to_have_count(2)
    expect(items.first).to_contain_text("build_v0_2")
    first = versions.locator("[data-version='build_v0_1']")
    second = versions.locator("[data-version='build_v0_2']")
    expect(second).to_contain_text("Foundation")
    expect(second).to_contain_text("on build_v0_1")
    expect(second).to_contain_text("add tags")
    expect(first).to_contain_text("Iterated")
    expect(page.locator("#versions-next")).to_contain_text("build_v0_2, the foundation")
    screenshots(page, "versions")

    # An older version's preview opens in the build panel: no tags there.
    first.get_by_role("button", name="Open the preview of build_v0_1").click()
    expect(page.locator("#ready-version")).to_have_text("build_v0_1")
    expect(frame.get_by_label("Ingredients")).to_be_visible(timeout=15_000)
    expect(frame.get_by_label("Tags")).to_have_count(0)

    # A version's files download as the zip the API serves.
    with page.expect_download() as info:
        second.get_by_role("button", name="Download the files of build_v0_2").click()
    download = info.value
    assert download.suggested_filename == "recipes-build_v0_2.zip"
    download.save_as(tmp_path / "v2.zip")
    with kiln_stack.api(token) as api:
        line = api.get(f"/api/projects/{page.locator('#project-select').input_value()}"
                       "/versions").json()
        job_id = line["versions"][1]["job_id"]
        listed = api.get(f"/api/generation/{job_id}/files").json()["files"]
    with zipfile.ZipFile(tmp_path / "v2.zip") as archive:
        assert sorted(archive.namelist()) == [f["path"] for f in listed]
        assert "Tags" in archive.read("app_spec.json").decode()
    assert page.kiln_errors == []
