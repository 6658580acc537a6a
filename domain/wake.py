"""Waking a READY build whose preview expired or whose sandbox was reaped (docs/previews.md).

A visit to the preview (web/preview/gate.py) calls `Wakes.begin`: one Lua script joins the wake
in progress, or reports a recent failure, or takes a sandbox slot within the build owner's tier
caps and the global cap and marks the wake (`Keys.wake`, the lock: one wake per build at a
time), after which the visitor sends `wake_message`. The worker (actors/wake.py) claims it,
reports its steps, and finishes with `done` (the new sandbox and preview on the job, which
stays READY) or `fail` (a code visitors see). Both free the slot; a mark whose worker died
expires, and the housekeeper's reap_slots.lua frees its slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dramatiq

from domain.ids import new_id
from domain.messages import QUEUE
from domain.settings import Settings
from domain.store import JobStore, _flat
from domain.tiers import TierLimits

WAKE_ACTOR = "wake_preview"
_LUA = Path(__file__).with_name("lua")
FAILED_MARK_S = 3600  # how long a failure's code stays on the mark (for visitors and operators)

# A wake's steps, as the waking page tells them.
STEPS = {"queued": "Waiting for a worker", "sandbox": "Creating a sandbox",
         "restore": "Restoring the app's files", "install": "Installing its dependencies",
         "start": "Starting the app"}

# Why a wake failed, as the page tells it (the code is the page's `code`).
FAILURES = {
    "wake_files_gone": "The build's stored files are gone, so its app cannot be restarted.",
    "wake_install_failed": "Installing the app's dependencies failed.",
    "wake_app_failed": "The app did not start.",
    "wake_failed": "Restarting the app failed.",
}


def wake_limit_s(settings: Settings) -> int:
    """The longest a wake may run (its actor's time limit) and its mark's expiry: a
    dependency install, the app's start, and room for creating the sandbox."""
    return int(settings.command_timeout_s + settings.preview_wait_s + 120)


def wake_message(job_id: str, wake_id: str) -> dramatiq.Message:
    """The wake's message, on Kiln's one queue (every worker consumes it)."""
    return dramatiq.Message(queue_name=QUEUE, actor_name=WAKE_ACTOR, args=(job_id, wake_id),
                            kwargs={}, options={})


@dataclass(frozen=True)
class WakeView:
    """What a visit found: started (send the message) | waking | failed | quota | moved |
    not_ready."""

    outcome: str
    step: str = ""  # waking: STEPS' key
    code: str = ""  # failed: FAILURES' key; quota: global | user | project
    wake_id: str = ""


class Wakes:
    def __init__(self, store: JobStore, settings: Settings) -> None:
        self.store = store
        self.redis = store.redis
        self.keys = store.keys
        self.limit_s = wake_limit_s(settings)
        self.retry_s = settings.wake_retry_s
        self._scripts = {name: self.redis.register_script((_LUA / f"{name}.lua").read_text())
                         for name in ("wake_begin", "wake_step", "wake_done", "wake_fail")}

    def _slots(self, job_id: str, user_id: str, project_id: str) -> list[str]:
        return [self.keys.live_global(), self.keys.live_user(user_id),
                self.keys.live_project(project_id)]

    def begin(self, job_id: str, user_id: str, project_id: str, seen_sandbox: str,
              limits: TierLimits, global_cap: int) -> WakeView:
        """A visit to the expired preview (the job's owner and project, the sandbox the
        visitor saw gone, the owner's tier limits)."""
        wake_id = new_id()
        res = self._scripts["wake_begin"](
            keys=[self.keys.job(job_id), self.keys.wake(job_id),
                  *self._slots(job_id, user_id, project_id)],
            args=[repr(self.store.clock.now()), seen_sandbox, limits.concurrent_per_user,
                  limits.concurrent_per_project, global_cap, self.retry_s, wake_id,
                  self.limit_s, job_id])
        outcome = res[0]
        if outcome == "waking":
            return WakeView(outcome, step=res[1])
        if outcome in ("failed", "quota"):
            return WakeView(outcome, code=res[1])
        return WakeView(outcome, wake_id=res[1] if outcome == "started" else "")

    def step(self, job_id: str, wake_id: str, step: str, sandbox_id: str = "",
             max_deliveries: int = 0) -> tuple[str, str]:
        """The worker's progress ('claim' first); returns (ok | stale | exhausted, the
        sandbox the mark named before: a dead run's, on a claim)."""
        res = self._scripts["wake_step"](keys=[self.keys.wake(job_id)],
                                         args=[wake_id, step, sandbox_id, self.limit_s,
                                               max_deliveries])
        return res[0], res[1]

    def done(self, job_id: str, user_id: str, project_id: str, wake_id: str, sandbox_id: str,
             expires_at: float, fields: dict[str, Any], registry_key: str) -> tuple[str, str]:
        """The app answers: returns (ok | stale | not_ready, the job's sandbox before)."""
        keys = [self.keys.job(job_id), self.keys.events(job_id), self.keys.wake(job_id),
                *self._slots(job_id, user_id, project_id), registry_key]
        res = self._scripts["wake_done"](
            keys=keys, args=[repr(self.store.clock.now()), self.store.event_maxlen, wake_id,
                             job_id, sandbox_id, repr(expires_at), *_flat(fields)])
        return res[0], res[1]

    def fail(self, job_id: str, user_id: str, project_id: str, wake_id: str, code: str,
             detail: str) -> bool:
        keys = [self.keys.wake(job_id), *self._slots(job_id, user_id, project_id)]
        return bool(self._scripts["wake_fail"](
            keys=keys, args=[wake_id, job_id, code, detail, repr(self.store.clock.now()),
                             FAILED_MARK_S]))


def superseded(store: JobStore, job_id: str, sandbox_id: str) -> bool:
    """Is `sandbox_id`, registered for this READY job, neither its preview's sandbox nor the
    one a wake in progress works on? Read now, in one transaction (a wake records its sandbox
    on the job and drops its mark in one script): the reaper's earlier read of the job may
    predate a wake that just finished on this very sandbox."""
    pipe = store.redis.pipeline(transaction=True)
    pipe.hget(store.keys.job(job_id), "sandbox_id")
    pipe.hmget(store.keys.wake(job_id), "state", "sandbox_id")
    current, (state, waking) = pipe.execute()
    if current == sandbox_id:
        return False
    return not (state and state != "failed" and (waking or "") in ("", sandbox_id))
