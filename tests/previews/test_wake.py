"""An expired or reaped preview wakes up, with real workers (in-process), real local sandboxes
and Kiln on a real uvicorn: the visit gets the waking page, the app comes back in a new
sandbox with a new expiry (the job stays READY), concurrent visitors share one wake, a full
quota starts none, a failed wake says why and a later visit retries it, a wake whose worker
died starts over, and a failed build's preview stays a 404."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from actors.housekeeping import reap
from actors.wake import run_wake
from domain.settings import Settings
from domain.status import Status
from domain.tiers import limits_for
from domain.wake import Wakes
from tests.support.generators import BreaksOnRequest
from tests.support.previews import Stack, serve_previews
from tests.support.waiting import wait_for
from tests.web.conftest import SECRET, auth

JSON = {"Accept": "application/json"}


@pytest.fixture(scope="module")
def stack(redis_url: str) -> Iterator[Stack]:
    # A failed wake is retried by a visit a second later (KILN_WAKE_RETRY_S).
    yield from serve_previews(Settings(redis_url=redis_url, jwt_secret=SECRET,
                                       log_format="json", wake_retry_s=1))


def _ready(pipeline) -> str:
    job_id = pipeline.start()
    assert pipeline.wait_terminal(job_id).status == Status.READY
    return job_id


def _get(stack: Stack, job_id: str, user: str = "user-1") -> httpx.Response:
    with stack.previews(**auth(user), **JSON) as client:
        return client.get(f"/preview/{job_id}/")


def _status(stack: Stack, job_id: str) -> dict:
    with stack.kiln() as api:
        res = api.get(f"/api/generation/{job_id}/status", headers=auth())
    assert res.status_code == 200, res.text
    return res.json()


def _expire(pipeline, job_id: str) -> None:
    store = pipeline.svc.store
    assert store.update(job_id, Status.READY, sandbox_expires_at=store.clock.now() - 1)


def _woken(stack: Stack, job_id: str, timeout: float = 60.0) -> httpx.Response:
    """Visit until the app answers (every answer meanwhile is the waking page)."""
    def visit() -> httpx.Response | None:
        res = _get(stack, job_id)
        if res.status_code == 200:
            return res
        assert (res.status_code, res.json()["code"]) == (503, "waking"), res.text
        return None

    return wait_for(visit, timeout, interval=0.2, message=f"the preview of {job_id} to wake")


def _code(stack: Stack, job_id: str, code: str, timeout: float = 60.0,
          html: bool = False) -> httpx.Response:
    """Visit until the preview answers `code` (in JSON, or the HTML page's data-code)."""
    def visit() -> httpx.Response | None:
        if not html:
            res = _get(stack, job_id)
            return res if res.json().get("code") == code else None
        with stack.previews(**auth(), Accept="text/html") as browser:
            res = browser.get(f"/preview/{job_id}/")
        return res if f'data-code="{code}"' in res.text else None

    return wait_for(visit, timeout, interval=0.2, message=f"the preview to answer {code}")


def test_an_expired_preview_wakes_up_and_a_reaped_one_too(pipeline, stack, r):
    job_id = _ready(pipeline)
    svc, store = pipeline.svc, pipeline.svc.store
    assert _get(stack, job_id).status_code == 200
    first = store.get_job(job_id)
    before = _status(stack, job_id)["sandbox_expires_at"]

    _expire(pipeline, job_id)
    waking = _get(stack, job_id)
    assert (waking.status_code, waking.json()["code"]) == (503, "waking")
    assert waking.headers["retry-after"] == "2"
    assert _status(stack, job_id)["status"] == "ready"  # READY throughout
    page = _woken(stack, job_id)
    assert "<html" in page.text.lower()

    woken = store.get_job(job_id)
    status = _status(stack, job_id)
    assert status["status"] == "ready" and status["sandbox_expires_at"] > before
    with stack.kiln() as api:  # a READY job's event stream: its snapshot, then the end
        events = api.get(f"/api/generation/{job_id}/events", headers=auth()).text
    snapshot = json.loads(next(line for line in events.splitlines()
                               if line.startswith("data:")).removeprefix("data:"))
    assert snapshot["sandbox_expires_at"] == status["sandbox_expires_at"]
    assert woken.sandbox_id != first.sandbox_id
    assert woken.sandbox_expires_at > store.clock.now() + 3000  # a fresh KILN_PREVIEW_TTL_S
    assert woken.build_version == first.build_version
    # The old sandbox is gone, the new one registered with the preview's expiry; no slot held.
    assert [rec.sandbox_id for rec in svc.registry.for_job(job_id)] == [woken.sandbox_id]
    assert svc.registry.get(woken.sandbox_id).expires_at == woken.sandbox_expires_at
    assert r.zcard(store.keys.live_global()) == 0 and not r.exists(store.keys.wake(job_id))
    events = r.xrange(store.keys.events(job_id))
    assert events[-1][1]["type"] == "preview" and events[-1][1]["event"] == "woken"

    # The reaper takes the woken sandbox after its new expiry; the next visit wakes it again.
    _expire(pipeline, job_id)
    reap(svc)
    assert svc.registry.for_job(job_id) == []
    _woken(stack, job_id)
    again = store.get_job(job_id)
    assert again.sandbox_id not in (woken.sandbox_id, first.sandbox_id)
    assert again.status == Status.READY and int(r.hget(store.keys.job(job_id), "wakes")) == 2

    # A sandbox lost before its expiry (killed, its host gone): the app does not answer and
    # the sandbox is not registered any more, so the visit wakes it too.
    svc.runtime.kill(again.sandbox_id)
    _woken(stack, job_id)
    assert int(r.hget(store.keys.job(job_id), "wakes")) == 3


def test_concurrent_visitors_share_one_wake(pipeline, stack, r):
    job_id = _ready(pipeline)
    store = pipeline.svc.store
    first = store.get_job(job_id).sandbox_id
    _expire(pipeline, job_id)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: _get(stack, job_id), range(8)))
    assert {(a.status_code, a.json()["code"]) for a in answers} == {(503, "waking")}
    _woken(stack, job_id)
    assert int(r.hget(store.keys.job(job_id), "wakes")) == 1
    records = pipeline.svc.registry.for_job(job_id)
    assert len(records) == 1 and records[0].sandbox_id not in ("", first)


def test_a_full_quota_starts_no_wake_until_a_slot_is_free(pipeline, stack, r):
    job_id = _ready(pipeline)
    svc, store = pipeline.svc, pipeline.svc.store
    sandbox = store.get_job(job_id).sandbox_id
    _expire(pipeline, job_id)
    # The owner's other builds hold every slot of the tier (partner: 3 at once), admitted and
    # waiting for their worker (not sent here).
    other = store.create_project("user-1", "Busy")["project_id"]
    held = [svc.capacity.start(other, "user-1", "partner", f"busy {i}") for i in range(3)]
    assert all(decision.admitted for decision in held)

    full = _get(stack, job_id)
    assert (full.status_code, full.json()["code"]) == (503, "wake_quota")
    assert "your plan" in full.json()["detail"] and full.headers["retry-after"] == "15"
    with stack.previews(**auth(), Accept="text/html") as browser:
        page = browser.get(f"/preview/{job_id}/")
    assert page.status_code == 503 and "No room to wake the app" in page.text
    assert not r.exists(store.keys.wake(job_id))  # no wake started
    assert {rec.sandbox_id for rec in svc.registry.for_job(job_id)} <= {sandbox}  # none new

    assert svc.capacity.cancel(held[0].job, "Cancelled by user").ok  # a slot frees up
    _woken(stack, job_id)
    assert store.get_job(job_id).status == Status.READY


def test_a_failed_wake_says_why_keeps_the_build_ready_and_a_later_visit_retries(
        pipeline, stack, r):
    job_id = _ready(pipeline)
    store = pipeline.svc.store
    files = store.files(job_id)
    built = store.get_job(job_id).sandbox_id  # expired: the reaper takes it in its own time
    _expire(pipeline, job_id)

    r.delete(store.keys.files(job_id))  # the stored files are gone
    failed = _code(stack, job_id, "wake_files_gone")
    assert failed.status_code == 503 and "stored files are gone" in failed.json()["detail"]
    assert _status(stack, job_id)["status"] == "ready"
    assert r.zcard(store.keys.live_global()) == 0  # the slot was given back

    # Back, but with an install step that fails: the next visit (after KILN_WAKE_RETRY_S)
    # wakes it again, and that wake fails at its install.
    manifest = {**json.loads(files["kiln.json"]), "install": "exit 3"}
    broken = {**files, "kiln.json": json.dumps(manifest)}
    r.hset(store.keys.files(job_id), mapping=broken)
    page = _code(stack, job_id, "wake_install_failed", html=True)
    assert page.status_code == 503 and page.headers["retry-after"] == "1"
    assert "could not be restarted" in page.text and "http-equiv" not in page.text  # no reload
    assert store.get_job(job_id).status == Status.READY
    # The failed wake's sandbox is gone (the expired one may wait for the reaper's next sweep).
    assert {rec.sandbox_id for rec in pipeline.svc.registry.for_job(job_id)} <= {built}

    r.hset(store.keys.files(job_id), mapping=files)  # repaired: a later visit wakes it
    wait_for(lambda: _get(stack, job_id).json().get("code") != "wake_install_failed", 10,
             interval=0.2, message="the failure's retry delay to pass")
    _woken(stack, job_id)
    assert _status(stack, job_id)["status"] == "ready"


def test_a_failed_or_unknown_builds_preview_stays_a_404(pipeline, stack, r):
    pipeline.use(generator=BreaksOnRequest())
    job_id = pipeline.start(goal=f"a todo app {BreaksOnRequest.MARK}")
    assert pipeline.wait_terminal(job_id).status == Status.FAILED
    res = _get(stack, job_id)
    assert (res.status_code, res.json()["code"]) == (404, "build_failed")
    assert not r.exists(pipeline.svc.store.keys.wake(job_id))
    unknown = _get(stack, "0" * 32)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")


def test_a_wake_whose_worker_died_starts_over_and_an_old_message_does_nothing(pipeline, stack,
                                                                              r):
    job_id = _ready(pipeline)
    svc, store = pipeline.svc, pipeline.svc.store
    job = store.get_job(job_id)
    _expire(pipeline, job_id)
    wakes = Wakes(store, svc.settings)
    view = wakes.begin(job_id, job.user_id, job.project_id, job.sandbox_id,
                       limits_for(job.tier), svc.settings.global_sandbox_cap)
    assert view.outcome == "started"
    # A first run got as far as its sandbox, and its worker died (its message comes back).
    assert wakes.step(job_id, view.wake_id, "claim", max_deliveries=5)[0] == "ok"
    dead = svc.runtime.create(job_id, {"kiln_job_id": job_id}, timeout_s=60)
    assert wakes.step(job_id, view.wake_id, "install", dead.id)[0] == "ok"

    assert run_wake(svc, job_id, "0" * 32) == "stale"  # another wake's message: nothing
    assert run_wake(svc, job_id, view.wake_id) == "woken"
    woken = store.get_job(job_id)
    assert svc.registry.get(dead.id) is None and woken.sandbox_id not in (dead.id, job.sandbox_id)
    assert [rec.sandbox_id for rec in svc.registry.for_job(job_id)] == [woken.sandbox_id]
    assert _get(stack, job_id).status_code == 200
