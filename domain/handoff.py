"""A stage's exit as one Redis round trip (domain/lua/hand_off*.lua).

The stage's writes (a new sandbox, the generated files, fields), the next stage's message and
the acknowledgement of the message that ran the stage land together, or not at all.
The queue is described by its keys (`Delivery`), so this module knows nothing of the broker's
code; actors/broker.py fills them in from Dramatiq's Redis layout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domain.capacity import Capacity, capacity_prelude
from domain.direct_script import DirectScript
from domain.job import Job
from domain.status import LAST_STAGE, Status
from domain.store import JobStore, _flat, _lua_prelude

_LUA = Path(__file__).with_name("lua")


@dataclass(frozen=True)
class Delivery:
    """The queue the stage's messages travel on, and the message that ran this stage."""

    db: int  # the broker's database, where these keys are (KILN_BROKER_DB)
    queue: str  # LIST of message ids
    messages: str  # HASH message id -> encoded message
    unacked: str  # SET of this worker's fetched, not yet acknowledged message ids
    ack_id: str = ""  # the message to acknowledge with the hand-off ('' for none)
    send_id: str = ""  # the next stage's message ('' for none)
    send_data: str = ""


@dataclass(frozen=True)
class Writes:
    """What a stage leaves on the job as it hands off (only while it still holds the stage)."""

    fields: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] | None = None
    # (sandbox seen at entry, sandbox created, the host holding it: '' when any host reaches it)
    claim: tuple[str, str, str] | tuple[str, str] | None = None


@dataclass(frozen=True)
class HandOffResult:
    outcome: str  # handed_off | ready | twin | cancelled | moved | missing
    status: Status | None
    sandbox_id: str | None  # the job's sandbox afterwards (a twin's, if it claimed first)
    admitted: list[tuple[str, int]] = field(default_factory=list)  # READY freed a slot

    @property
    def acknowledged(self) -> bool:
        return self.outcome in ("handed_off", "ready", "twin")


class HandOff:
    def __init__(self, store: JobStore, registry_key: str) -> None:
        self.store = store
        self.registry_key = registry_key
        lib = (_LUA / "hand_off_lib.lua").read_text() + "\n"
        # The common hand-off carries no transition table or capacity library: a script's top
        # level runs on every call. Only READY transitions and admits.
        self._next = DirectScript(store.redis, lib + (_LUA / "hand_off.lua").read_text())
        ready = (_lua_prelude() + "\n" + capacity_prelude(store.keys) + lib
                 + (_LUA / "hand_off_ready.lua").read_text())
        self._ready = DirectScript(store.redis, ready)

    def next_stage(self, job_id: str, stage: Status, holder: str, writes: Writes,
                   delivery: Delivery) -> HandOffResult:
        """Write, queue the next stage's message (`delivery.send_*`) and acknowledge."""
        return self._run(self._next, job_id, stage, holder, self._writes(writes), delivery)

    def ready(self, job: Job, holder: str, writes: Writes, delivery: Delivery,
              expires_at: float, capacity: Capacity) -> HandOffResult:
        """Finish the last stage as READY: the preview's expiry, the build's duration for the
        queue's ETAs, and the admission of waiting jobs into the freed slot (by `capacity`'s
        caps). `job`: any read of it (its user and project name the slots READY frees)."""
        body = self._writes(writes)
        body["ready"] = {"expires_at": repr(expires_at), "window": capacity.duration_window,
                         "admission": capacity.admission_args()}
        keys = self.store.keys
        more = [*keys.job_state(job.job_id, job.user_id, job.project_id), *keys.capacity()]
        return self._run(self._ready, job.job_id, LAST_STAGE, holder, body, delivery, more)

    @staticmethod
    def _writes(writes: Writes) -> dict[str, Any]:
        body: dict[str, Any] = {"fields": _flat(writes.fields)}
        if writes.files:
            body["files"] = writes.files
        if writes.claim:
            body["claim"] = list(writes.claim)
        return body

    def _run(self, script: Any, job_id: str, stage: Status, holder: str, body: dict[str, Any],
             delivery: Delivery, more_keys: list[str] | None = None) -> HandOffResult:
        store, keys = self.store, self.store.keys
        res = script(
            keys=[keys.job(job_id), keys.events(job_id), keys.files(job_id), self.registry_key,
                  delivery.queue, delivery.messages, delivery.unacked, *(more_keys or ())],
            args=[repr(store.clock.now()), str(store.event_maxlen),
                  str(store.stage_deadline_s), job_id, stage.value, holder, json.dumps(body),
                  delivery.ack_id, delivery.send_id, delivery.send_data, str(store.lease_s),
                  str(delivery.db)])
        status = Status(res[1]) if res[1] else None
        admitted = [(res[i], int(res[i + 1])) for i in range(3, len(res), 2)]
        return HandOffResult(res[0], status, res[2] or None, admitted)
