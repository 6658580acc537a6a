"""The one Redis-backed store that enforces the job state machine.

Every status change is one Lua script (check current status, write status + fields +
timestamps, append to the job's capped event stream, keep the capacity and watchdog indexes
right) so two racing writers can never both succeed and nothing leaves a terminal state.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis

from domain.clock import Clock
from domain.direct_script import DirectScript
from domain.ids import new_id
from domain.job import Job
from domain.keys import Keys
from domain.status import FIX_LOOP_TO, LAST_STAGE, TERMINAL, TRANSITIONS, Status
from domain.versions import build_version

if TYPE_CHECKING:
    from domain.handoff import Delivery

_LUA = Path(__file__).with_name("lua")


def _lua_prelude() -> str:
    # Constant strings, not tables: a script's top level runs on every call, and building the
    # transition table each time cost more than the commands of a stage entry.
    pairs = "|".join(f"{src.value}>{to.value}" for src, targets in TRANSITIONS.items()
                     for to in sorted(targets))
    terminal = "|".join(sorted(s.value for s in TERMINAL))
    return (f"local TRANSITIONS, TERMINALS = '|{pairs}|', '|{terminal}|'\n"
            f"local LAST_STAGE, FIX_LOOP_TO = '{LAST_STAGE.value}', '{FIX_LOOP_TO.value}'\n"
            + (_LUA / "transition_lib.lua").read_text())


def _script(name: str) -> str:
    return _lua_prelude() + "\n" + (_LUA / f"{name}.lua").read_text()


@dataclass(frozen=True)
class TransitionResult:
    ok: bool
    previous: Status | None
    reason: str = "ok"  # ok | missing | conflict | illegal


@dataclass(frozen=True)
class StageEntry:
    outcome: str  # entered | resumed | duplicate | cancelled | exhausted | missing
    status: Status | None
    job: Job | None
    files: dict[str, str] | None = None  # the job's files, when asked for


def _flat(fields: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for key, value in fields.items():
        if value is None:
            continue
        out += [key, "1" if value is True else "0" if value is False else str(value)]
    return out


def _pairs(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


class JobStore:
    """Jobs, projects, build versions, cancel flags and job history, on one Redis."""

    def __init__(self, client: redis.Redis, prefix: str = "kiln", clock: Clock | None = None,
                 event_maxlen: int = 1000, stage_deadline_s: int = 0, lease_s: int = 0) -> None:
        self.redis = client
        # Its database: scripts that also touch the broker's (KILN_BROKER_DB) switch back to it.
        self.db = int(client.connection_pool.connection_kwargs.get("db") or 0)
        self.keys = Keys(prefix)
        self.prefix = prefix
        self.clock = clock or Clock()
        self.event_maxlen = event_maxlen
        self.stage_deadline_s = stage_deadline_s
        # A live build's sandbox lease: renewed to now + lease_s at every stage entry, hand-off
        # and watchdog look at a waiting job (`lease_until` on the job; 0: not written).
        self.lease_s = lease_s
        self._transition = client.register_script(_script("transition"))
        self._enter = DirectScript(client, _script("enter_stage"))  # every stage, twice
        self._reopen = client.register_script(_script("reopen"))
        self._update = client.register_script((_LUA / "update.lua").read_text())
        self._redrive = client.register_script(_script("redrive"))
        self._replace = client.register_script((_LUA / "replace_sandbox.lua").read_text())

    def _common(self, job_id: str) -> list[str]:
        return [repr(self.clock.now()), str(self.event_maxlen), str(self.stage_deadline_s),
                job_id]

    def state_keys(self, job_id: str, to: Status | None = None) -> list[str]:
        """The keys a transition of the job to `to` touches (Keys.job_state). A terminal one
        frees the job's slots and a READY one numbers the project's build: those keys name
        the job's user and project, read first (they never change once the job exists)."""
        if to not in TERMINAL:
            return self.keys.job_state(job_id)
        user_id, project_id = self.redis.hmget(self.keys.job(job_id), "user_id", "project_id")
        return self.keys.job_state(job_id, user_id or "", project_id or "")

    # -- projects -------------------------------------------------------------------------
    def create_project(self, user_id: str, name: str) -> dict[str, Any]:
        project_id = new_id()
        now = self.clock.now()
        record = {"project_id": project_id, "name": name, "user_id": user_id,
                  "created_at": repr(now)}
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.keys.project(project_id), mapping=record)
        pipe.zadd(self.keys.user_projects(user_id), {project_id: now})
        pipe.execute()
        return {**record, "created_at": now}

    def get_project(self, project_id: str) -> dict[str, Any] | None:
        raw = self.redis.hgetall(self.keys.project(project_id))
        if not raw:
            return None
        return {**raw, "created_at": float(raw["created_at"])}

    def list_projects(self, user_id: str) -> list[dict[str, Any]]:
        ids = self.redis.zrange(self.keys.user_projects(user_id), 0, -1)
        pipe = self.redis.pipeline(transaction=False)
        for project_id in ids:
            pipe.hgetall(self.keys.project(project_id))
        return [{**raw, "created_at": float(raw["created_at"])}
                for raw in pipe.execute() if raw]

    def project_job_ids(self, project_id: str, limit: int = 50) -> list[str]:
        return self.redis.zrevrange(self.keys.project_jobs(project_id), 0, limit - 1)

    def predicted_version(self, project_id: str) -> str:
        current = int(self.redis.get(self.keys.build_seq(project_id)) or 0)
        return build_version(current + 1)

    # -- jobs -----------------------------------------------------------------------------
    @staticmethod
    def new_record(project_id: str, user_id: str, tier: str, goal: str, now: float,
                   **fields: Any) -> dict[str, Any]:
        """A new job's fields, without its status (the one shape every creator writes)."""
        return {"job_id": new_id(), "project_id": project_id, "user_id": user_id,
                "tier": tier, "goal": goal, "debug_id": "dbg_" + secrets.token_hex(6),
                "attempt": 1, "iteration": 0, "cancelled": False, "created_at": repr(now),
                "updated_at": repr(now), "stage_started_at": repr(now), **fields}

    def create_job(self, project_id: str, user_id: str, tier: str, goal: str,
                   status: Status = Status.QUEUED, **fields: Any) -> Job:
        """Write a job directly in `status` (admission goes through Capacity.start instead)."""
        now = self.clock.now()
        record = self.new_record(project_id, user_id, tier, goal, now, status=status.value,
                                 **{f"{status.value}_at": repr(now)}, **fields)
        job_id = record["job_id"]
        flat = _flat(record)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.keys.job(job_id), mapping=_pairs(flat))
        pipe.xadd(self.keys.events(job_id), {"type": "status", "status": status.value,
                                             "from": "", "at": repr(now)},
                  maxlen=self.event_maxlen, approximate=True)
        pipe.zadd(self.keys.project_jobs(project_id), {job_id: now})
        pipe.zadd(self.keys.user_jobs(user_id), {job_id: now})
        pipe.execute()
        return Job.from_redis(_pairs(flat))

    def get_job(self, job_id: str) -> Job | None:
        raw = self.redis.hgetall(self.keys.job(job_id))
        return Job.from_redis(raw) if raw else None

    def get_jobs(self, job_ids: list[str]) -> list[Job]:
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hgetall(self.keys.job(job_id))
        return [Job.from_redis(raw) for raw in pipe.execute() if raw]

    def update(self, job_id: str, expected: Status, files: dict[str, str] | None = None,
               **fields: Any) -> bool:
        """Write non-status fields (and optionally the job's files) while the job is still at
        `expected` and not cancelled. False when it moved on or was cancelled."""
        if "status" in fields:
            raise ValueError("update() writes no status: a status changes by transition()")
        flat = _flat(fields)
        args = [expected.value, str(len(flat) // 2), *flat]
        for path, text in (files or {}).items():
            args += [path, text]
        keys = [self.keys.job(job_id), self.keys.events(job_id), self.keys.cancel(job_id),
                self.keys.files(job_id)]
        return bool(self._update(keys=keys, args=args))

    # -- the fix loop ---------------------------------------------------------------------
    def feedback(self, job_id: str) -> str | None:
        """The last failed checks' output, for the code stage of the fix loop's next turn."""
        return self.redis.get(self.keys.feedback(job_id))

    def failure_fingerprint(self, job_id: str) -> str | None:
        """The shape of that failure (the fix loop stops when a failure repeats)."""
        return self.redis.get(self.keys.feedback_fingerprint(job_id))

    def set_feedback(self, job_id: str, output: str, fingerprint: str,
                     ttl_s: int = 86_400) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(self.keys.feedback(job_id), output, ex=ttl_s)
        pipe.set(self.keys.feedback_fingerprint(job_id), fingerprint, ex=ttl_s)
        pipe.execute()

    def files(self, job_id: str) -> dict[str, str]:
        """The app files the code stage wrote for this job (kept for replays and summaries)."""
        return self.redis.hgetall(self.keys.files(job_id))

    def transition(self, job_id: str, to: Status, expected: Status | None = None,
                   cancel: bool = False, **fields: Any) -> TransitionResult:
        """Move the job to `to` if legal (and if it is at `expected`, when given)."""
        to = Status(to)
        args = self._common(job_id) + [expected.value if expected else "", to.value,
                                        "1" if cancel else "0"] + _flat(fields)
        res = self._transition(keys=self.state_keys(job_id, to), args=args)
        if res[0] == "missing":
            return TransitionResult(False, None, reason="missing")
        previous = Status(res[1])
        if res[0] != "ok":
            return TransitionResult(False, previous, reason=res[0])
        return TransitionResult(True, previous)

    def enter_stage(self, job_id: str, stage: Status, attempt: int, iteration: int,
                    max_deliveries: int, message_id: str,
                    with_files: bool = False) -> StageEntry:
        """Cancel check, duplicate check, delivery count and transition: one round trip.
        `message_id` identifies the delivery: only the message holding the stage resumes it.
        `with_files` also returns the job's files (for stages that read them)."""
        args = self._common(job_id) + [stage.value, str(attempt), str(iteration),
                                        str(max_deliveries), message_id,
                                        "1" if with_files else "0", str(self.lease_s)]
        res = self._enter(keys=[self.keys.files(job_id), *self.keys.job_state(job_id)],
                          args=args)
        status = Status(res[1]) if res[1] else None
        if len(res) < 3:
            return StageEntry(res[0], status, None)
        # Lua's cjson encodes an empty table as {}: no files yet.
        files = _pairs(json.loads(res[3]) or []) if with_files else None
        return StageEntry(res[0], status, Job.from_redis(json.loads(res[2])), files)

    def reopen(self, job_id: str, expected_attempt: int, resume_at: Status,
               include_cancelled: bool = False) -> tuple[str, int | None]:
        """Open a new attempt of a FAILED job (replay). Returns (outcome, new attempt)."""
        args = self._common(job_id) + [str(expected_attempt), Status(resume_at).value,
                                        "1" if include_cancelled else "0"]
        res = self._reopen(keys=self.keys.job_state(job_id), args=args)
        return res[0], (int(res[1]) if res[0] == "ok" else None)

    def overdue(self, now: float, limit: int = 100) -> list[str]:
        """Jobs whose current stage is past its deadline (the watchdog's work list)."""
        return self.redis.zrangebyscore(self.keys.active(), "-inf", now, start=0, num=limit)

    def redrive(self, job: Job, max_redrives: int, takeover: Delivery,
                resend: Delivery | None = None) -> str:
        """The watchdog's step for an overdue job (domain/lua/redrive.lua): 'waiting' (its
        message waits for a worker), 'resent' (the next stage's message was lost and is queued
        again, `resend`), 'ok' (the stalled stage is handed to `takeover`'s message), or
        'exhausted' / 'moved'. Both messages go on the queue in Dramatiq's layout, with their
        own id as their Redis id, so a later look can find them."""
        args = self._common(job.job_id) + [
            job.status.value, repr(job.stage_started_at), takeover.send_id, str(max_redrives),
            str(self.lease_s), resend.send_id if resend else "",
            resend.send_data if resend else "", takeover.send_data, str(takeover.db),
            str(self.db)]
        sent = resend or takeover  # the queue the job's next message went to
        keys = [*self.keys.job_state(job.job_id), takeover.messages, takeover.queue,
                sent.messages, sent.queue]
        return self._redrive(keys=keys, args=args)[0]

    def replace_sandbox(self, job_id: str, stage: Status, holder: str, lost: str, new: str,
                        max_replacements: int, host: str = "") -> tuple[str, str]:
        """Record `new` (on worker host `host`, '' when any host reaches it) as the job's
        sandbox in place of `lost` (domain/lua/replace_sandbox.lua); returns the outcome and
        the job's sandbox afterwards."""
        res = self._replace(keys=[self.keys.job(job_id)],
                            args=[stage.value, holder, lost, new, str(max_replacements),
                                  repr(self.clock.now()), str(self.lease_s), host])
        return res[0], res[1]

    # -- cancel ---------------------------------------------------------------------------
    @staticmethod
    def cancel_fields(message: str) -> dict[str, Any]:
        """What a cancel writes to the job besides FAILED (Capacity.cancel writes them too)."""
        return {"cancelled": True, "error_message": message, "error_code": "cancelled"}

    def cancel(self, job_id: str, message: str) -> TransitionResult:
        """Set the cancel flag and fail the job in one step; refused once terminal. (A user's
        cancel goes through Capacity.cancel, which also gives back an unused quota unit.)"""
        return self.transition(job_id, Status.FAILED, cancel=True,
                               **self.cancel_fields(message))
