"""A build's preview served through Kiln, in Chromium: the build page (on 127.0.0.1) frames
the app at its stable URL on the preview origin (localhost: another origin, another site, the
same server, as bin/dev runs it), the signed link's cookie lets the frame in, and the app
works there: an item added in the frame is kept. The app's JavaScript cannot reach Kiln's page
or its token. "Open the preview" opens the same app in a tab of its own."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from domain.status import STAGE_LABELS, Status

from .conftest import KilnStack
from .test_build_page import current_job_id, sign_in, start_build

pytestmark = pytest.mark.browser
GOAL = "a reading list of books with ratings"


def test_the_preview_opens_through_kiln_in_the_frame_and_the_app_works(
        kiln_stack: KilnStack, template_workers: object, page_factory) -> None:
    page = page_factory(1280, 900)
    token = sign_in(page, kiln_stack, "browser-preview")
    requests: list[str] = []
    page.on("request", lambda req: requests.append(req.url))
    start_build(page, GOAL)
    expect(page.locator("#stage-label")).to_have_text(STAGE_LABELS[Status.READY],
                                                      timeout=60_000)
    job_id = current_job_id(page)
    stable = f"{kiln_stack.preview_origin}/preview/{job_id}/"
    expect(page.locator("#preview-url")).to_have_text(stable)

    app = page.frame_locator("#preview-frame")
    expect(app.locator(".goal")).to_have_text(GOAL, timeout=15_000)
    frame = page.frame(url=stable)
    assert frame is not None, [f.url for f in page.frames]

    # Use the app inside the frame: add a book; it is kept (the frame reloads it).
    app.get_by_label("Title").fill("Dune")
    app.get_by_role("button", name="Add book").click()
    expect(app.locator("#items li").filter(has_text="Dune")).to_have_count(1)
    frame.evaluate("location.reload()")
    expect(app.locator("#items li").filter(has_text="Dune")).to_have_count(1)

    # Its own origin: the app's JavaScript cannot read Kiln's page or the token Kiln keeps.
    # (In a cross-site frame this Chromium denies the app storage of its own altogether.)
    seen = frame.evaluate("""() => {
        try { return localStorage.getItem('kiln.token'); } catch (e) { return e.name; }
    }""")
    assert seen in (None, "SecurityError") and seen != token
    assert frame.evaluate("""() => {
        try { return window.parent.document.title; } catch (e) { return e.name; }
    }""") == "SecurityError"
    assert frame.evaluate("document.cookie") == ""  # Kiln's preview cookie is HttpOnly

    # Every request of the app went to its preview, on the preview origin.
    of_app = [u for u in requests if u.startswith(kiln_stack.preview_origin)]
    assert of_app and all(u.startswith(stable) for u in of_app), of_app
    assert not any("preview_token" in u for u in of_app[1:])  # the link is used once

    # "Open the preview": the same app in a tab of its own (a top-level, Lax cookie).
    with page.context.expect_page() as opened:
        page.get_by_role("link", name=re.compile("Open the preview")).click()
    tab = opened.value
    expect(tab.locator("#items li").filter(has_text="Dune")).to_have_count(1, timeout=15_000)
    assert tab.url == stable
    assert page.kiln_errors == []


def test_a_preview_without_a_link_is_a_clear_404_page(kiln_stack: KilnStack,
                                                      page_factory) -> None:
    page = page_factory(1280, 900)
    response = page.goto(f"{kiln_stack.preview_origin}/preview/{'0' * 32}/")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="No preview here")).to_be_visible()
