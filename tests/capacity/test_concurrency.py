"""Admission from many connections at once never exceeds a cap, and admits each job once."""

from __future__ import annotations

import random
import threading
import time

from domain.capacity import Capacity
from domain.redis_client import connect
from domain.store import JobStore
from domain.tiers import limits_for
from tests.capacity.conftest import T0
from tests.support.clock import FixedClock
from tests.support.waiting import join_all

GLOBAL_CAP = 6
ENV = {"KILN_TIER_BOOTSTRAPPER_DAILY_JOBS": "100"}  # every start is queued, none scheduled
USERS = {"boot": "bootstrapper", "part": "partner", "cto": "cto_scale", "boot2": "bootstrapper"}


def test_thirty_concurrent_starts_across_eight_threads_never_exceed_caps(redis_url, r):
    setup = JobStore(r, clock=FixedClock(T0))
    projects = {u: [setup.create_project(u, f"{u}-{i}")["project_id"] for i in range(2)]
                for u in USERS}
    owner = {p: u for u, ps in projects.items() for p in ps}
    plan = [(u, projects[u][i % 2]) for i in range(30) for u in [list(USERS)[i % len(USERS)]]]
    chunks = [plan[i::8] for i in range(8)]
    barrier, stop = threading.Barrier(9), threading.Event()
    admitted: list[str] = []
    lock, errors, violations = threading.Lock(), [], []

    def worker(chunk):
        client = connect(redis_url)
        store = JobStore(client, clock=FixedClock(T0))
        cap = Capacity(store, global_cap=GLOBAL_CAP, queue_cap=100, env=ENV)
        rng = random.Random(len(chunk))
        try:
            barrier.wait(timeout=10)
            for user, pid in chunk:
                got = cap.start(pid, user, USERS[user], "app").admitted
                got += cap.admit()
                with lock:
                    admitted.extend(j for j, _ in got)
                live = client.zrange(store.keys.live_global(), 0, -1)
                if live and rng.random() < 0.5:  # churn: some builds end, others get in
                    store.transition(rng.choice(live), "failed")
                    with lock:
                        admitted.extend(j for j, _ in cap.admit())
        except Exception as exc:  # surfaced by the main thread
            errors.append(exc)
        finally:
            client.close()

    def sampler():
        client = connect(redis_url)
        keys = setup.keys
        barrier.wait(timeout=10)
        while not stop.is_set():
            pipe = client.pipeline(transaction=True)  # one consistent snapshot
            pipe.zcard(keys.live_global())
            for u in USERS:
                pipe.scard(keys.live_user(u))
            for p in owner:
                pipe.scard(keys.live_project(p))
            counts = pipe.execute()
            if counts[0] > GLOBAL_CAP:
                violations.append(("global", counts[0]))
            for u, n in zip(USERS, counts[1:1 + len(USERS)], strict=True):
                if n > limits_for(USERS[u], {}).concurrent_per_user:
                    violations.append((u, n))
            for p, n in zip(owner, counts[1 + len(USERS):], strict=True):
                if n > limits_for(USERS[owner[p]], {}).concurrent_per_project:
                    violations.append((p, n))
        client.close()

    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    threads.append(threading.Thread(target=sampler))
    for t in threads:
        t.start()
    join_all(threads[:-1], 60, "the starting threads")
    stop.set()
    join_all(threads[-1:], 10, "the sampler")
    assert not errors and not violations
    assert len(admitted) == len(set(admitted))  # no job admitted twice

    # Drain: end every running build until the queue is empty; every job gets in exactly once.
    cap = Capacity(setup, global_cap=GLOBAL_CAP, env=ENV)
    deadline = time.monotonic() + 20
    while cap.queue_depth() and time.monotonic() < deadline:
        for job_id in r.zrange(setup.keys.live_global(), 0, -1):
            setup.transition(job_id, "failed")
        admitted.extend(j for j, _ in cap.admit())
    assert cap.queue_depth() == 0, "the queue did not drain within 20 s"
    assert len(admitted) == len(set(admitted)) == 30
