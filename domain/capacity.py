"""Capacity and fairness: the admission queue, concurrency caps, daily quotas, scheduled jobs.

Every decision that could race (quota count + queue cap + job creation, admission against the
global/user/project caps, release of scheduled jobs) is one Lua script in domain/lua, so no
number of web or worker processes can over-admit. Slots are the live keys that
transition_lib.lua frees on every terminal transition.

Queue order: FIFO within a tier. On arrival a job goes ahead of the trailing waiting jobs
whose tier boost is lower than its own, at most `queue_boost` of them (partner 2, cto_scale
5), and never ahead of a job with the same or a higher boost; after that the order is fixed.
Admission walks the head of the queue in that order, skipping (not dequeuing) a job whose own
user or project cap is full, so one user's backlog never blocks anyone else.

Daily quota: a start counts against the first UTC day, today first, whose quota has room;
today means QUEUED, a later day SCHEDULED for that day's 00:00 UTC (normally the next
midnight), where it is released without counting again. So scheduled jobs can never push a
user past the quota of the day they run on. A build cancelled before it started (still queued
or scheduled, first attempt) gives its unit back to that day; one cancelled later keeps it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain import eta as eta_math
from domain.clock import Clock, iso, next_utc_midnight, utc_day
from domain.job import Job
from domain.keys import Keys
from domain.quota import quota_days
from domain.status import Status
from domain.store import JobStore, TransitionResult, _flat, _lua_prelude, _pairs
from domain.tiers import Tier, TierLimits, limits_for

_LUA = Path(__file__).with_name("lua")


def _lua_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def capacity_prelude(keys: Keys) -> str:
    """capacity_lib.lua with the shapes of the keys it names from ids it reads (Keys.names)."""
    shapes = ", ".join(f"{kind} = {{{_lua_string(before)}, {_lua_string(after)}}}"
                       for kind, (before, after) in keys.names().items())
    return (f"local NAMES = {{{shapes}}}\n" + (_LUA / "capacity_lib.lua").read_text() + "\n")


class QueueFull(Exception):
    """The admission queue holds `queue_cap` jobs: refuse the start (503 + Retry-After)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"The build queue is full; retry in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class CancelResult(TransitionResult):
    refunded: bool = False  # the build had not started: its quota unit was given back


@dataclass(frozen=True)
class StartDecision:
    job: Job  # created job, status QUEUED or SCHEDULED (scheduled_for set)
    admitted: list[tuple[str, int]]  # (job_id, attempt) admitted now: send `starting` for each


class Capacity:
    def __init__(self, store: JobStore, clock: Clock | None = None, global_cap: int = 20,
                 queue_cap: int = 100, env: Mapping[str, str] | None = None, *,
                 scan_limit: int = 200, publish_limit: int = 200,
                 default_build_s: float = 120.0, duration_window: int = 20,
                 schedule_horizon_days: int = 31) -> None:
        self.store = store
        self.redis = store.redis
        self.keys = store.keys
        self.clock = clock or store.clock
        self.global_cap = global_cap
        self.queue_cap = queue_cap
        self.env = dict(env) if env is not None else None
        self.scan_limit = scan_limit  # admission looks at most this far into the queue
        self.publish_limit = publish_limit  # queue events for at most this many waiting jobs
        self.default_build_s = default_build_s
        self.duration_window = duration_window
        self.horizon = schedule_horizon_days
        self._admission_args: list[str] | None = None
        prelude = _lua_prelude() + "\n" + capacity_prelude(self.keys)
        self._scripts = {name: self.redis.register_script(
                             prelude + (_LUA / f"{name}.lua").read_text())
                         for name in ("start", "enqueue", "admit", "release", "positions",
                                      "reap_slots", "cancel")}

    def limits(self, tier: str) -> TierLimits:
        return limits_for(tier, self.env)

    def _boost(self, tier: str) -> int:
        try:
            return self.limits(tier).queue_boost
        except ValueError:  # an unknown tier gets no boost
            return 0

    # -- starting and queueing ------------------------------------------------------------
    def start(self, project_id: str, user_id: str, tier: str, goal: str,
              **fields: Any) -> StartDecision:
        """Create a job: QUEUED (and admitted if capacity allows), or SCHEDULED when the daily
        quota is used up. Raises QueueFull when the queue is full (nothing is created)."""
        limits = self.limits(tier)
        now = self.clock.now()
        # The script adds the status fields (queued or scheduled) to the store's record.
        record = self.store.new_record(project_id, user_id, tier, goal, now, **fields)
        job_id = record["job_id"]
        flat = _flat(record)
        days = quota_days(now, self.horizon)
        keys = [self.keys.job(job_id), self.keys.events(job_id),
                self.keys.project_jobs(project_id), self.keys.user_jobs(user_id),
                self.keys.queue_user(user_id), self.keys.scheduled_user(user_id),
                *self.keys.capacity(), *(self.keys.quota(user_id, day) for day, _ in days)]
        res = self._scripts["start"](
            keys=keys,
            args=[repr(now), str(self.store.event_maxlen), job_id, str(limits.queue_boost),
                  str(limits.daily_jobs), str(self.queue_cap),
                  str(max(self.scan_limit, min(2 * self.queue_cap, 1000))), json.dumps(days),
                  json.dumps(flat)])
        if res[0] == "full":
            raise QueueFull(self.retry_after())
        status = Status(res[0])
        raw = {**_pairs(flat), "status": status.value, f"{status.value}_at": repr(now)}
        if res[1]:
            raw["scheduled_for"] = res[1]
        admitted = self.admit() if status == Status.QUEUED else []
        return StartDecision(Job.from_redis(raw), admitted)

    def cancel(self, job: Job, message: str) -> CancelResult:
        """A user's cancel, in one step: the store's cancel (flag + FAILED, refused once
        terminal) and, if the build never started (first attempt, still queued or scheduled),
        its quota unit back. `job` is any read of it: only fields a job never changes (owner,
        creation and scheduled time) pick the day its unit was counted against."""
        counted_on = job.scheduled_for if job.scheduled_for is not None else job.created_at
        keys = [*self.keys.job_state(job.job_id, job.user_id, job.project_id),
                self.keys.quota(job.user_id, utc_day(counted_on)), self.keys.scheduled(),
                self.keys.scheduled_user(job.user_id)]
        args = [repr(self.clock.now()), str(self.store.event_maxlen), "0", job.job_id,
                *_flat(self.store.cancel_fields(message))]
        res = self._scripts["cancel"](keys=keys, args=args)
        if res[0] == "missing":
            return CancelResult(False, None, reason="missing")
        if res[0] != "ok":
            return CancelResult(False, Status(res[1]), reason=res[0])
        return CancelResult(True, Status(res[1]), refunded=res[3] == 1)

    def enqueue(self, job_id: str) -> None:
        """Put an existing QUEUED job (e.g. a replayed one) in the admission queue."""
        job = self.store.get_job(job_id)
        if job is None or job.status != Status.QUEUED:
            return
        keys = [self.keys.job(job_id), self.keys.queue_user(job.user_id), *self.keys.capacity()]
        self._scripts["enqueue"](keys=keys, args=[job_id, str(self._boost(job.tier))])

    def admission_args(self) -> list[str]:
        """The caps admission applies: global cap, scan limit, per-tier caps, default tier.
        Read from the environment once per Capacity (every READY hand-off passes them)."""
        if self._admission_args is None:
            caps = {t.value: [self.limits(t).concurrent_per_user,
                              self.limits(t).concurrent_per_project] for t in Tier}
            self._admission_args = [str(self.global_cap), str(self.scan_limit),
                                    json.dumps(caps), Tier.BOOTSTRAPPER.value]
        return self._admission_args

    def admit(self) -> list[tuple[str, int]]:
        """Admit as many waiting jobs as the caps allow, in queue order (one Lua script; a
        build finishing READY admits in its hand-off instead, domain/handoff.py)."""
        flat = self._scripts["admit"](keys=self.keys.capacity(),
                                      args=[repr(self.clock.now()), *self.admission_args()])
        return [(flat[i], int(flat[i + 1])) for i in range(0, len(flat), 2)]

    def release_scheduled(self, limit: int = 500) -> list[tuple[str, int]]:
        """Move SCHEDULED jobs whose time has come to QUEUED, enqueue them, then admit."""
        boosts = {t.value: self.limits(t).queue_boost for t in Tier}
        self._scripts["release"](keys=self.keys.capacity(),
                                 args=[repr(self.clock.now()), str(self.store.event_maxlen),
                                       str(limit), json.dumps(boosts)])
        return self.admit()

    # -- slots ----------------------------------------------------------------------------
    def reap_slots(self) -> list[str]:
        """Free slots whose job is terminal or gone (every terminal transition already does)."""
        return list(self._scripts["reap_slots"](keys=self.keys.capacity()))

    def stale_admissions(self, older_than_s: float) -> list[tuple[str, int]]:
        """Jobs admitted over `older_than_s` ago that never left QUEUED: their `starting`
        message was lost; the caller sends it again (stage entry is idempotent)."""
        cutoff = self.clock.now() - older_than_s
        ids = self.redis.zrangebyscore(self.keys.live_global(), "-inf", cutoff)
        # Every running job is in this range once it has run for a while: read two fields of
        # each, not the whole record (this runs every second).
        pipe = self.redis.pipeline(transaction=False)
        for job_id in ids:
            pipe.hmget(self.keys.job(job_id), "status", "attempt")
        return [(job_id, int(attempt or 1)) for job_id, (status, attempt)
                in zip(ids, pipe.execute(), strict=True) if status == Status.QUEUED.value]

    # -- positions and ETAs ---------------------------------------------------------------
    def position(self, job_id: str) -> int | None:
        rank = self.redis.zrank(self.keys.queue(), job_id)
        return None if rank is None else rank + 1

    def queue_depth(self) -> int:
        return int(self.redis.zcard(self.keys.queue()))

    def average_build_s(self) -> float:
        samples = self.redis.lrange(self.keys.build_durations(), 0, -1)
        return eta_math.moving_average((float(s) for s in samples), self.default_build_s)

    def _offsets(self) -> tuple[list[float], float]:
        avg = self.average_build_s()
        held = self.redis.zrange(self.keys.live_global(), 0, self.global_cap - 1, withscores=True)
        offsets = eta_math.slot_offsets((at for _, at in held), self.clock.now(),
                                        self.global_cap, avg)
        return offsets, avg

    def eta_seconds(self, job_id: str) -> float | None:
        """Seconds until a waiting job should start (until release for a scheduled one)."""
        pos = self.position(job_id)
        if pos is not None:
            offsets, avg = self._offsets()
            return round(eta_math.eta_for_position(pos, offsets, avg), 1)
        scheduled_for = self.redis.zscore(self.keys.scheduled(), job_id)
        if scheduled_for is not None:
            return max(0.0, scheduled_for - self.clock.now())
        return None

    def retry_after(self) -> int:
        """Seconds until the head of the queue should be admitted, freeing a place (>= 1)."""
        offsets, avg = self._offsets()
        return eta_math.retry_after(eta_math.eta_for_position(1, offsets, avg))

    def publish_positions(self) -> int:
        """Append a `type=queue` event to each waiting job whose position changed."""
        if not self.redis.zcard(self.keys.queue()):
            # Nobody waits: skip the ETA inputs (a read of every live slot, O(global cap)).
            return 0
        offsets, avg = self._offsets()
        return int(self._scripts["positions"](keys=self.keys.capacity(), args=[
            str(self.store.event_maxlen), str(self.publish_limit), repr(avg),
            json.dumps(offsets)]))

    # -- usage ----------------------------------------------------------------------------
    def usage(self, user_id: str, tier: str) -> dict[str, Any]:
        limits = self.limits(tier)
        now = self.clock.now()
        used = int(self.redis.get(self.keys.quota(user_id, utc_day(now))) or 0)
        queued_ids = sorted(self.redis.smembers(self.keys.queue_user(user_id)))
        scheduled_ids = sorted(self.redis.smembers(self.keys.scheduled_user(user_id)))
        queued = sum(1 for j in self.store.get_jobs(queued_ids) if j.status == Status.QUEUED)
        scheduled = sum(1 for j in self.store.get_jobs(scheduled_ids)
                        if j.status == Status.SCHEDULED)
        return {"tier": Tier(tier).value, "jobs_used": used,
                "jobs_remaining": max(0, limits.daily_jobs - used),
                "daily_jobs": limits.daily_jobs, "resets_at": iso(next_utc_midnight(now)),
                "running": int(self.redis.scard(self.keys.live_user(user_id))),
                "concurrent_limit": limits.concurrent_per_user,
                "queued": queued, "scheduled": scheduled}
