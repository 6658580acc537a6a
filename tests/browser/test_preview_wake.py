"""An expired preview wakes up, in Chromium: open a build's preview through Kiln, use the app
(add an item), let the preview expire (the workers' reaper kills its sandbox), open it again:
the waking page shows, reloads itself, and the app is back, restarted from the build's stored
files (what was added in the old sandbox is not kept: docs/previews.md)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from actors.sandbox.registry import SandboxRegistry
from domain.redis_client import connect
from domain.status import STAGE_LABELS, Status
from domain.store import JobStore
from tests.support.waiting import wait_for

from .conftest import KilnStack
from .test_build_page import current_job_id, sign_in, start_build

pytestmark = pytest.mark.browser
GOAL = "a reading list of books with ratings"


def _expire(stack: KilnStack, job_id: str) -> None:
    """Let the preview expire now, and wait until the workers' reaper has killed its sandbox."""
    client = connect(stack.env["REDIS_URL"])
    try:
        store = JobStore(client, prefix=stack.env["KILN_REDIS_PREFIX"])
        registry = SandboxRegistry(client, stack.env["KILN_REDIS_PREFIX"])
        assert store.update(job_id, Status.READY, sandbox_expires_at=store.clock.now() - 1)
        wait_for(lambda: not registry.for_job(job_id), 30, interval=0.1,
                 message="the reaper to kill the expired preview's sandbox")
    finally:
        client.close()


def test_an_expired_preview_shows_the_waking_page_then_the_app(
        kiln_stack: KilnStack, template_workers: object, page_factory) -> None:
    page = page_factory(1280, 900)
    sign_in(page, kiln_stack, "browser-wake")
    start_build(page, GOAL)
    expect(page.locator("#stage-label")).to_have_text(STAGE_LABELS[Status.READY],
                                                      timeout=60_000)
    job_id = current_job_id(page)
    stable = f"{kiln_stack.preview_origin}/preview/{job_id}/"

    with page.context.expect_page() as opened:
        page.get_by_role("link", name=re.compile("Open the preview")).click()
    tab = opened.value
    expect(tab.locator(".goal")).to_have_text(GOAL, timeout=15_000)
    tab.get_by_label("Title").fill("Dune")
    tab.get_by_role("button", name="Add book").click()
    expect(tab.locator("#items li").filter(has_text="Dune")).to_have_count(1)

    _expire(kiln_stack, job_id)
    # The build page says the preview is asleep and offers it (not framed: a look at an old
    # build starts nothing by itself).
    page.reload()
    expect(page.locator("#ready-note")).to_contain_text("asleep", timeout=15_000)
    expect(page.get_by_role("link", name=re.compile("Open the preview"))).to_be_visible()
    expect(page.locator("#preview-frame")).to_be_hidden()

    response = tab.reload()
    assert response is not None and response.status == 503
    expect(tab.get_by_role("heading", name="Waking up the app")).to_be_visible()
    assert tab.url == stable

    # The page reloads itself until the app answers: the app is back at the same URL.
    expect(tab.locator(".goal")).to_have_text(GOAL, timeout=60_000)
    assert tab.url == stable
    expect(tab.locator("#items li").filter(has_text="Dune")).to_have_count(0)  # a fresh start
    tab.get_by_label("Title").fill("Emma")
    tab.get_by_role("button", name="Add book").click()
    expect(tab.locator("#items li").filter(has_text="Emma")).to_have_count(1)
    with kiln_stack.api(kiln_stack.token("browser-wake")) as api:
        status = api.get(f"/api/generation/{job_id}/status").json()
    assert status["status"] == "ready" and status["preview_url"] == stable
    expires = datetime.fromisoformat(status["sandbox_expires_at"].replace("Z", "+00:00"))
    assert expires > datetime.now(UTC)  # the new expiry
    assert page.kiln_errors == []
