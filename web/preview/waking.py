"""A visit to a READY build whose preview expired or whose sandbox was reaped wakes it up
(domain/wake.py): the first visit starts the wake (within the owner's tier caps), every visit
meanwhile gets the waking page with its step, and a failed wake's page names why.
"""

from __future__ import annotations

import dataclasses

from domain.logs import get_logger
from domain.tiers import Tier
from domain.wake import FAILURES, STEPS, Wakes, wake_message
from web.preview import pages
from web.state import Kiln, blocking

log = get_logger("kiln.preview")
Refusal = pages.Refusal
_WHICH = {"user": "the sandboxes your plan runs at once",
          "project": "the sandboxes this project runs at once",
          "global": "Kiln's sandboxes"}
_ORDER = list(STEPS)


def waking_page(step: str) -> Refusal:
    step = step if step in STEPS else _ORDER[0]
    return pages.WAKING, {"step": STEPS[step], "number": str(_ORDER.index(step) + 1),
                          "steps": str(len(_ORDER))}


async def wake(k: Kiln, wakes: Wakes, job_id: str, job: dict[str, str | None]) -> Refusal:
    """Start or join the wake of `job` (its record's owner, project, tier and sandbox)."""
    try:
        limits = k.capacity.limits(job["tier"] or "")
    except ValueError:  # a tier the settings no longer know: the lowest one's caps
        limits = k.capacity.limits(Tier.BOOTSTRAPPER.value)
    view = await blocking(wakes.begin, job_id, job["user_id"] or "", job["project_id"] or "",
                          job["sandbox_id"] or "", limits, k.capacity.global_cap)
    if view.outcome == "started":
        await blocking(k.broker.enqueue, wake_message(job_id, view.wake_id))
        log.info("preview.wake_started", job_id=job_id)
        return waking_page("queued")
    if view.outcome == "waking":
        return waking_page(view.step)
    if view.outcome == "moved":  # woken meanwhile: the reload finds the app
        return waking_page("start")
    if view.outcome == "quota":
        return pages.WAKE_QUOTA, {"which": _WHICH.get(view.code, _WHICH["global"])}
    if view.outcome == "failed":
        code = view.code if view.code in FAILURES else "wake_failed"
        page = dataclasses.replace(pages.WAKE_FAILED, code=code,
                                   retry_after=max(1, wakes.retry_s))
        return page, {"reason": FAILURES[code], "retry": str(max(1, wakes.retry_s))}
    return pages.NOT_FOUND, {}  # not READY after all (never: READY is terminal)
