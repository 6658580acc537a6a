"""Worker hosts: the queue each one consumes besides Kiln's shared one, and the heartbeat
that says it is alive (docs/reliability.md, "Several worker hosts").

A job whose sandbox lives on one host (a local sandbox) has its stage messages sent to that
host's queue once `starting` recorded the sandbox (`sandbox_host` on the job). A job whose
sandbox any host can reach (E2B) stays on the shared queue. A host whose heartbeat key expired
is gone: the housekeeping moves its jobs back to the shared queue (actors/hosts.py).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

from domain.handoff import Delivery
from domain.job import Job
from domain.messages import QUEUE
from domain.store import JobStore

_LUA = Path(__file__).with_name("lua")

HOST_QUEUE_PREFIX = f"{QUEUE}.host."
# Dramatiq's queue names (dramatiq/actor.py): a letter or underscore, then [a-zA-Z0-9._-].
_NOT_ALLOWED = re.compile(r"[^a-zA-Z0-9._-]")


def host_queue(host_id: str) -> str:
    """The queue of one worker host. An id with characters Dramatiq refuses in a queue name
    gets them replaced and a short digest of the whole id appended, so two ids that differ
    only there still get different queues."""
    if not host_id:
        raise ValueError("a worker host needs a name (KILN_HOST_ID)")
    clean = _NOT_ALLOWED.sub("_", host_id)
    if clean != host_id:
        clean += "-" + hashlib.sha256(host_id.encode()).hexdigest()[:8]
    return HOST_QUEUE_PREFIX + clean


def queue_for(sandbox_host: str | None) -> str:
    """Where a job's stage messages go: its sandbox's host's queue, or the shared one when no
    single host holds the sandbox (none yet, a provider's, or its host was lost)."""
    return host_queue(sandbox_host) if sandbox_host else QUEUE


class Hosts:
    """The worker hosts' heartbeats, and the step that moves a lost host's job off its queue."""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self._lost = store.redis.register_script((_LUA / "host_lost.lua").read_text())

    def beat(self, host_id: str, ttl_s: float) -> None:
        """This host is alive for `ttl_s` more seconds (and known to the sweep)."""
        keys = self.store.keys
        with self.store.redis.pipeline(transaction=False) as pipe:
            pipe.set(keys.host(host_id), "1", px=max(1, int(ttl_s * 1000)))
            pipe.sadd(keys.hosts(), host_id)
            pipe.execute()

    def lost(self) -> set[str]:
        """Known hosts without a heartbeat: two commands, so the sweep costs nothing while
        every host is alive (reading every running job each second took a sixth of a flood's
        throughput: docs/performance.md)."""
        known = sorted(self.store.redis.smembers(self.store.keys.hosts()))
        return set(known) - self.alive(known)

    def forget(self, host_ids: Iterable[str]) -> None:
        """Hosts found lost with no running job left: the sweep stops looking at them (a
        beat makes one known again)."""
        ids = list(host_ids)
        if ids:
            self.store.redis.srem(self.store.keys.hosts(), *ids)

    def alive(self, host_ids: Iterable[str]) -> set[str]:
        """Which of these hosts have a heartbeat."""
        ids = sorted(set(host_ids))
        if not ids:
            return set()
        beats = self.store.redis.mget([self.store.keys.host(h) for h in ids])
        return {h for h, beat in zip(ids, beats, strict=True) if beat is not None}

    def move_off(self, job: Job, host_id: str, shared: Delivery, handed_off: str,
                 running: str) -> str:
        """Move `job` off lost host `host_id` (domain/lua/host_lost.lua): `shared` carries the
        new message's id and the shared queue's keys; `handed_off` / `running` are its data
        when the job waits for its next stage / is in its stage. Returns the outcome."""
        store = self.store
        res = self._lost(
            keys=[store.keys.job(job.job_id), store.keys.host(host_id), shared.messages,
                  shared.queue],
            args=[host_id, job.status.value, shared.send_id, handed_off, running, QUEUE,
                  str(shared.db), str(store.db)])
        return str(res[0])
