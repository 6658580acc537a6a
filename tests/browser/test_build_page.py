"""The build page in a real browser, against a real Kiln: uvicorn, dramatiq workers, Redis.

Each test drives the page the way a person would (sign-in link, project, goal, buttons and
keyboard), waits on what the page shows (never on fixed sleeps), checks the API agrees, and
saves screenshots at 1280 and 375 px under artifacts/browser/.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import Page, expect

from domain.failures import CANCELLED_MESSAGE, FRIENDLY
from domain.gates import GATE_PROMPT
from domain.status import CANCELLED_LABEL, STAGE_LABELS, Status

from .conftest import ARTIFACTS, FakeModel, KilnStack

pytestmark = pytest.mark.browser

BUILD_TIMEOUT_MS = 60_000

# Records every text the stage label (the aria-live region) shows, in order.
RECORD_LABELS = """
document.addEventListener("DOMContentLoaded", () => {
  const label = document.getElementById("stage-label");
  if (!label) return;  // the preview iframe gets this script too
  window.kilnLabels = [];
  new MutationObserver(() => {
    const text = label.textContent;
    if (text && window.kilnLabels.at(-1) !== text) window.kilnLabels.push(text);
  }).observe(label, { childList: true, characterData: true, subtree: true });
});
"""


def sign_in(page: Page, stack: KilnStack, user: str, link: str | None = None) -> str:
    """Open the sign-in link; the page keeps the token and drops it from the address bar."""
    link = link or stack.link(stack.token(user))
    token = link.split("#token=", 1)[1]
    page.goto(link)
    expect(page.get_by_role("heading", name="What should we build?")).to_be_visible()
    assert "token=" not in page.url
    assert page.evaluate("localStorage.getItem('kiln.token')") == token
    return token


def start_build(page: Page, goal: str) -> None:
    page.get_by_label("Describe your app").fill(goal)
    page.get_by_role("button", name="Build it").click()


def current_job_id(page: Page) -> str:
    saved = page.evaluate("localStorage.getItem('kiln.job')")
    assert saved, "the page did not remember the build it watches"
    return json.loads(saved)["job_id"]


def wait_for_new_job(page: Page, previous: str, timeout_s: float = 10.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        saved = page.evaluate("localStorage.getItem('kiln.job')")
        if saved and json.loads(saved)["job_id"] != previous:
            return json.loads(saved)["job_id"]
        page.wait_for_timeout(50)  # a polling interval, not a wait for an outcome
    raise AssertionError("the page did not start a new build")


def screenshots(page: Page, name: str) -> None:
    """Full-page screenshots at 1280 and 375 px wide; the page is left at its first size."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    for width, height in ((1280, 900), (375, 812)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True,
                        animations="disabled")
        # Nothing may spill sideways at either width.
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} at {width} px is {overflow} px too wide"
    page.set_viewport_size(original)


def stage_order(labels: list[str]) -> list[int]:
    order = [STAGE_LABELS[s] for s in (Status.QUEUED, Status.STARTING, Status.SCAFFOLD,
                                       Status.CODE, Status.DEPS, Status.CHECKS, Status.READY)]
    return [order.index(label) for label in labels if label in order]


# The page keeps no labels, progress or prompts of its own: with the API's words marked on the
# way in, the page shows the marked words.
MARK = "API: "
STATUS_PATH = re.compile(r"/api/generation/[^/]+/status$")
EVENTS_PATH = re.compile(r"/api/generation/[^/]+/events")


def _rewrite(route: object, change) -> None:
    response = route.fetch()
    route.fulfill(response=response, json=change(response.json()))


def _marked_pipeline(body: dict) -> dict:
    for status in body["statuses"]:
        status["label"] = MARK + status["label"]
        status["progress"] = 0.11
    body["cancelled_label"] = MARK + body["cancelled_label"]
    return body


def _marked_status(body: dict) -> dict:
    return {**body, "stage_label": MARK + body["stage_label"], "progress": 0.37}


def test_build_reaches_ready_shows_the_preview_then_the_gate(
        kiln_stack: KilnStack, template_workers: object, page_factory) -> None:
    page = page_factory(1280, 900)
    page.add_init_script(RECORD_LABELS)
    page.route(re.compile(r"/preview-viewed$"),
               lambda route: _rewrite(route, lambda body: {**body, "prompt": MARK + body["prompt"]}))
    link = kiln_stack.bin_token_link("browser-ready", tier="partner")
    assert link.startswith(f"{kiln_stack.base_url}/#token="), link
    token = sign_in(page, kiln_stack, "browser-ready", link)

    # A project made on the page.
    page.get_by_text("New project", exact=True).click()
    page.get_by_label("New project name").fill("Reading list")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#project-select option:checked")).to_have_text("Reading list")

    goal = "a reading list with notes"
    start_build(page, goal)
    label = page.locator("#stage-label")
    expect(label).to_have_text(STAGE_LABELS[Status.READY], timeout=BUILD_TIMEOUT_MS)
    bar = page.get_by_role("progressbar")
    expect(bar).to_have_attribute("aria-valuenow", "100")
    expect(page).to_have_title(f"{STAGE_LABELS[Status.READY]} · Kiln")
    expect(page.locator("[data-step][data-state='done']")).to_have_count(7)

    with kiln_stack.api(token) as api:
        job_id = current_job_id(page)
        status = api.get(f"/api/generation/{job_id}/status").json()
    assert status["status"] == "ready"

    # The label walked the pipeline, forwards only unless the fix loop ran.
    seen = page.evaluate("window.kilnLabels")
    assert seen[-1] == STAGE_LABELS[Status.READY], seen
    if status["iteration"] == 0:
        assert stage_order(seen) == sorted(stage_order(seen)), seen

    # Summary, link and the app itself in the iframe.
    ready = page.get_by_role("region", name="Your app is ready")
    expect(ready).to_be_visible()
    expect(page.locator("#ready-version")).to_have_text(status["build_version"])
    # The stable URL is on the preview origin; the link and the frame carry a signed link to
    # it, and the frame lands on the stable URL itself (the cookie lets it in).
    assert status["preview_url"] == f"{kiln_stack.preview_origin}/preview/{job_id}/"
    signed = re.compile(re.escape(status["preview_url"] + "?preview_token="))
    expect(ready.get_by_role("link", name=re.compile("Open the preview"))).to_have_attribute(
        "href", signed)
    expect(page.locator("#preview-url")).to_have_text(status["preview_url"])
    expect(page.locator("#preview-frame")).to_have_attribute("src", signed)
    expect(page.frame_locator("#preview-frame").locator("body")).to_contain_text(
        goal, timeout=15_000)
    assert page.frame(url=status["preview_url"]) is not None

    # Seeing the preview raises the project's gate, which asks the question the API sent.
    gate = page.get_by_role("region", name=MARK + GATE_PROMPT)
    expect(gate).to_be_visible(timeout=15_000)
    screenshots(page, "ready")

    # Decide by keyboard alone.
    gate.get_by_role("button", name=re.compile("^Solidify")).focus()
    page.keyboard.press("Enter")
    expect(gate.get_by_role("status")).to_contain_text("Decision saved: Solidify")
    with kiln_stack.api(token) as api:
        gates = api.get(f"/api/projects/{status['project_id']}/gates").json()["gates"]
    assert [(g["status"], g["decision"], g["job_id"]) for g in gates] == [
        ("resolved", "solidify", job_id)]

    # A reload comes back to the same build; the decided gate is not asked again.
    page.reload()
    expect(page.get_by_role("region", name="Your app is ready")).to_be_visible()
    expect(page.frame_locator("#preview-frame").locator("body")).to_contain_text(goal)
    expect(page.locator("#ready-files")).to_have_text(re.compile(r"^\d+$"))
    page.wait_for_load_state("networkidle")
    expect(page.locator("#gate-card")).to_be_hidden()
    assert page.kiln_errors == []


def test_cancel_midway_shows_the_cancelled_state(
        kiln_stack: KilnStack, fake_model: FakeModel, fake_model_workers: object,
        page_factory) -> None:
    page = page_factory(375, 812)
    token = sign_in(page, kiln_stack, "browser-cancel")
    # No project yet: the page makes one from the goal.
    expect(page.get_by_label("Project", exact=True)).to_be_disabled()

    start_build(page, f"a habit tracker {FakeModel.HOLD}")
    label = page.locator("#stage-label")
    expect(label).to_have_text(STAGE_LABELS[Status.CODE], timeout=BUILD_TIMEOUT_MS)
    assert fake_model.held.wait(15), "the code stage never asked the model"
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "45")

    # Escape keeps the build going.
    cancel = page.get_by_role("button", name="Cancel build")
    cancel.click()
    dialog = page.get_by_role("dialog", name="Cancel this build?")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(cancel).to_be_focused()
    expect(label).to_have_text(STAGE_LABELS[Status.CODE])

    # Confirming cancels it.
    cancel.click()
    dialog.get_by_role("button", name="Cancel build").click()
    expect(label).to_have_text("Build cancelled")
    card = page.get_by_role("region", name="Build cancelled")
    expect(card).to_be_visible()
    expect(card.get_by_role("button", name="Start again")).to_be_visible()
    expect(page.locator("#build-badge")).to_have_text("Cancelled")
    expect(page.get_by_role("button", name="Cancel build")).to_be_hidden()
    expect(page.locator("[data-step='code']")).to_have_attribute("data-state", "stopped")

    with kiln_stack.api(token) as api:
        status = api.get(f"/api/generation/{current_job_id(page)}/status").json()
    assert (status["status"], status["cancelled"], status["error_message"]) == (
        "failed", True, CANCELLED_MESSAGE)
    screenshots(page, "cancelled")
    assert page.kiln_errors == []


def test_failed_build_shows_the_failure_card_and_retries(
        kiln_stack: KilnStack, fake_model_workers: object, page_factory) -> None:
    page = page_factory(1280, 900)
    # Sign in by pasting the token, keyboard only; a bad token is refused with a message.
    page.goto(kiln_stack.base_url + "/")
    token_field = page.get_by_label("Access token")
    token_field.fill("not-a-token")
    token_field.press("Enter")
    expect(page.get_by_role("alert").filter(has_text="not accepted")).to_be_visible()
    token = kiln_stack.token("browser-fail")
    token_field.fill(token)
    token_field.press("Enter")
    expect(page.get_by_role("heading", name="What should we build?")).to_be_visible()
    goal = "a plant watering log"
    page.get_by_label("Describe your app").fill(goal)
    page.get_by_label("Describe your app").press("Control+Enter")

    card = page.get_by_role("region", name=STAGE_LABELS[Status.FAILED])
    expect(card).to_be_visible(timeout=BUILD_TIMEOUT_MS)
    expect(page.locator("#stage-label")).to_have_text(STAGE_LABELS[Status.FAILED])
    expect(card.locator("#failed-message")).to_have_text(FRIENDLY[Status.CODE])
    expect(page.locator("[data-step='code']")).to_have_attribute("data-state", "failed")

    first = current_job_id(page)
    with kiln_stack.api(token) as api:
        status = api.get(f"/api/generation/{first}/status").json()
    assert status["status"] == "failed" and status["debug_id"]

    # The debug id is in the expandable detail, hidden until it is opened.
    debug_id = card.locator("#failed-debug-id")
    expect(debug_id).to_be_hidden()
    card.get_by_text("Details for support").click()
    expect(debug_id).to_have_text(status["debug_id"])
    screenshots(page, "failed")

    # Try again starts the same goal once more, as a new build.
    card.get_by_role("button", name="Try again").click()
    second = wait_for_new_job(page, first)
    expect(card).to_be_visible(timeout=BUILD_TIMEOUT_MS)
    expect(page.locator("#failed-job-id")).to_have_text(second)
    with kiln_stack.api(token) as api:
        retried = api.get(f"/api/generation/{second}/status").json()
    assert retried["project_id"] == status["project_id"]
    assert retried["debug_id"] != status["debug_id"]
    expect(page.locator("#build-goal")).to_have_text(goal)
    assert page.kiln_errors == []


def test_progress_resumes_after_the_connection_drops(
        kiln_stack: KilnStack, fake_model: FakeModel, fake_model_workers: object,
        page_factory) -> None:
    page = page_factory(1280, 900)
    streams: list[dict[str, str]] = []  # each request for the live events: URL and headers

    def record(request: object) -> None:
        if "/events" in request.url:
            streams.append({"url": request.url, **request.headers})

    page.on("request", record)
    sign_in(page, kiln_stack, "browser-resume")
    start_build(page, f"a bird sightings log {FakeModel.HOLD}")
    label = page.locator("#stage-label")
    expect(label).to_have_text(STAGE_LABELS[Status.CODE], timeout=BUILD_TIMEOUT_MS)
    assert fake_model.held.wait(15)
    before = len(streams)

    # The web server dies under the open event stream and comes back.
    kiln_stack.restart_web()
    connection = page.locator("#connection")
    # Reconnected. The page backs off (1, 2, 4 s...) while the server is down, so on a busy
    # machine its next try can come several seconds after the server is back: a deadline
    # for the reconnect, not a measure of its speed.
    expect(connection).to_have_text("", timeout=30_000)
    resumed = streams[before:]
    assert any("last_event_id=" in s["url"] or "last-event-id" in s for s in resumed), streams

    # The build moves on; the news arrives over the resumed stream.
    fake_model.release()
    expect(page.get_by_role("region", name=STAGE_LABELS[Status.FAILED])).to_be_visible(
        timeout=30_000)
    expect(page.locator("#failed-message")).to_have_text(FRIENDLY[Status.CODE])
    job_id = current_job_id(page)

    # A reload shows the same build's outcome again.
    page.reload()
    expect(page.locator("#failed-message")).to_have_text(FRIENDLY[Status.CODE])
    expect(page.locator("#failed-job-id")).to_have_text(job_id)
    assert page.kiln_errors == []


def _start_via_api(stack: KilnStack, token: str, goal: str) -> str:
    with stack.api(token) as api:
        project = api.post("/api/projects", json={"name": "Earlier work"}).json()
        started = api.post("/api/generation/start",
                           json={"project_id": project["project_id"], "goal": goal})
        assert started.status_code == 201, started.text
        return started.json()["job_id"]


def _cancel_on_page(page: Page, label: str = CANCELLED_LABEL) -> None:
    page.get_by_role("button", name="Cancel build").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel build").click()
    expect(page.locator("#stage-label")).to_have_text(label)


def test_waiting_builds_show_queue_position_and_scheduled_time(
        kiln_stack: KilnStack, fake_model: FakeModel, fake_model_workers: object,
        page_factory) -> None:
    # Queued: this user's one build slot is taken by a build held at "Writing code...".
    token = kiln_stack.token("browser-queue", tier="cto_scale")
    _start_via_api(kiln_stack, token, f"a first app {FakeModel.HOLD}")
    assert fake_model.held.wait(60), "the first build never reached the model"
    page = page_factory(1280, 900)
    page.goto(kiln_stack.link(token))
    start_build(page, "a second app")
    expect(page.locator("#stage-label")).to_have_text(STAGE_LABELS[Status.QUEUED])
    expect(page.locator("#build-badge")).to_have_text("In queue")
    expect(page.locator("#build-note")).to_contain_text("You're #1 in the queue.")
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "0")
    screenshots(page, "queued")
    _cancel_on_page(page)  # a queued build can be cancelled too
    fake_model.release()

    # Scheduled: today's one build is used, so the next one waits for 00:00 UTC.
    token = kiln_stack.token("browser-scheduled", tier="bootstrapper")
    _start_via_api(kiln_stack, token, "a first app")
    page = page_factory(1280, 900)
    page.goto(kiln_stack.link(token))
    start_build(page, "a second app")
    expect(page.locator("#stage-label")).to_have_text(STAGE_LABELS[Status.SCHEDULED])
    expect(page.locator("#build-badge")).to_have_text("Scheduled")
    expect(page.locator("[data-step='queued'] .step-name")).to_have_text("Scheduled")
    expect(page.locator("#build-note")).to_contain_text("This build starts")
    expect(page.locator("#build-note")).to_contain_text("(00:00 UTC)")
    screenshots(page, "scheduled")
    _cancel_on_page(page)
    assert page.kiln_errors == []


def test_the_page_shows_the_labels_and_progress_the_api_sends(
        kiln_stack: KilnStack, fake_model: FakeModel, fake_model_workers: object,
        page_factory) -> None:
    page = page_factory(1280, 900)
    page.route("**/api/pipeline", lambda route: _rewrite(route, _marked_pipeline))
    page.route(STATUS_PATH, lambda route: _rewrite(route, _marked_status))
    # No live stream (its events cannot be rewritten on the way): the page falls back to
    # polling the status, as it does whenever the stream is down.
    page.route(EVENTS_PATH, lambda route: route.abort())
    sign_in(page, kiln_stack, "browser-labels")
    start_build(page, f"a recipe box {FakeModel.HOLD}")

    label = page.locator("#stage-label")
    expect(label).to_have_text(MARK + STAGE_LABELS[Status.CODE], timeout=BUILD_TIMEOUT_MS)
    assert fake_model.held.wait(15), "the code stage never asked the model"
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "37")
    expect(page).to_have_title(f"{MARK}{STAGE_LABELS[Status.CODE]} · Kiln")

    # Cancelled: the label and the card's title are the API's cancelled label, the stage it
    # stopped at is the API's label for that stage.
    _cancel_on_page(page, MARK + CANCELLED_LABEL)
    card = page.get_by_role("region", name=MARK + CANCELLED_LABEL)
    expect(card).to_be_visible()
    expect(card.locator("#failed-stage")).to_have_text(
        MARK + STAGE_LABELS[Status.CODE].removesuffix("..."))
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "37")
    assert page.kiln_errors == []
