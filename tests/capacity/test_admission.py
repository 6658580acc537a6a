"""Admission against real Redis: caps, fairness, boost order, slots freed on terminal paths."""

from __future__ import annotations

from domain.status import Status
from tests.capacity.conftest import free_slot, live_ids


def test_start_admits_within_caps_and_marks_slots(make_capacity, new_project, cstore):
    cap = make_capacity(global_cap=5)
    pid = new_project("u1")
    first = cap.start(pid, "u1", "bootstrapper", "a todo app")
    assert first.job.status == Status.QUEUED and first.admitted == [(first.job.job_id, 1)]
    second = cap.start(pid, "u1", "bootstrapper", "a todo app")
    third = cap.start(pid, "u1", "bootstrapper", "a todo app")  # bootstrapper: 2 at a time
    assert second.admitted == [(second.job.job_id, 1)] and third.admitted == []
    r, k = cstore.redis, cstore.keys
    assert live_ids(cstore) == {first.job.job_id, second.job.job_id}
    assert r.smembers(k.live_user("u1")) == r.smembers(k.live_project(pid)) == live_ids(cstore)
    assert cstore.get_job(first.job.job_id).status == Status.QUEUED  # `starting` moves it
    assert cstore.get_job(first.job.job_id).timestamps["queued"] > 0
    assert cap.position(third.job.job_id) == 1 and cap.position(first.job.job_id) is None
    assert cap.queue_depth() == 1


def test_user_cap_does_not_block_other_users(make_capacity, new_project, cstore):
    cap = make_capacity(global_cap=10)
    pu, pv = new_project("u"), new_project("v")
    mine = [cap.start(pu, "u", "bootstrapper", "app") for _ in range(4)]
    assert sum(len(d.admitted) for d in mine) == 2
    other = cap.start(pv, "v", "bootstrapper", "app")
    assert other.admitted == [(other.job.job_id, 1)]  # behind u's waiting jobs, admitted anyway
    assert [cap.position(d.job.job_id) for d in mine[2:]] == [1, 2]  # they kept their place


def test_project_cap(make_capacity, new_project):
    cap = make_capacity(global_cap=20)
    p1, p2 = new_project("c"), new_project("c")
    on_p1 = [cap.start(p1, "c", "cto_scale", "app") for _ in range(7)]
    assert sum(len(d.admitted) for d in on_p1) == 5  # cto_scale: 5 per project
    assert len(cap.start(p2, "c", "cto_scale", "app").admitted) == 1


def test_global_cap_and_terminal_frees_slot(make_capacity, new_project, cstore):
    cap = make_capacity(global_cap=1)
    a = cap.start(new_project("a"), "a", "partner", "app")
    b = cap.start(new_project("b"), "b", "partner", "app")
    assert a.admitted and not b.admitted and cap.admit() == []
    free_slot(cstore, a.job.job_id)  # store.transition(..., FAILED) releases the slot
    assert live_ids(cstore) == set()
    assert cap.admit() == [(b.job.job_id, 1)]


def test_cancelled_waiting_job_is_skipped(make_capacity, new_project, cstore):
    cap = make_capacity(global_cap=1)
    a, b, c = (cap.start(new_project(u), u, "partner", "app") for u in "abc")
    assert cstore.cancel(b.job.job_id, "Cancelled by user").ok
    free_slot(cstore, a.job.job_id)
    assert cap.admit() == [(c.job.job_id, 1)]
    assert cap.queue_depth() == 0


def _queue_order(cap, decisions):
    return sorted(decisions, key=lambda d: cap.position(d.job.job_id))


def test_boost_order_for_mixed_tiers(make_capacity, new_project, cstore):
    cap = make_capacity(global_cap=1)
    blocker = cap.start(new_project("x"), "x", "bootstrapper", "app")
    jobs = {}
    for name, tier in [("b1", "bootstrapper"), ("b2", "bootstrapper"), ("b3", "bootstrapper"),
                       ("b4", "bootstrapper"), ("b5", "bootstrapper"), ("p", "partner"),
                       ("c", "cto_scale")]:
        jobs[name] = cap.start(new_project(name), name, tier, "app")
    by_id = {d.job.job_id: n for n, d in jobs.items()}
    # p jumps b4, b5 (its boost of 2); c jumps its 5: b5, b4, p, b3, b2.
    expected = ["b1", "c", "b2", "b3", "p", "b4", "b5"]
    assert [by_id[d.job.job_id] for d in _queue_order(cap, jobs.values())] == expected
    admitted, running = [], blocker.job.job_id
    while cap.queue_depth():
        free_slot(cstore, running)
        [(running, _)] = cap.admit()
        admitted.append(by_id[running])
    assert admitted == expected


def test_fifo_within_tier_and_boost_stops_at_equal_or_higher(make_capacity, new_project):
    cap = make_capacity(global_cap=0)  # nothing admitted: look at the order only
    names = {}
    for name, tier in [("b1", "bootstrapper"), ("b2", "bootstrapper"), ("b3", "bootstrapper"),
                       ("p1", "partner"), ("p2", "partner"), ("c1", "cto_scale"),
                       ("p3", "partner"), ("c2", "cto_scale")]:
        names[cap.start(new_project(name), name, tier, "app").job.job_id] = name
    order = [names[i] for i in cap.redis.zrange(cap.keys.queue(), 0, -1)]
    # p1 jumps b3, b2; p2 jumps b3, b2 but not p1; c1 jumps b3, b2, p2, p1, b1;
    # p3 jumps b3, b2; c2 jumps its 5 (b3, b2, p3, p2, p1), so b1 stays ahead of it.
    assert order == ["c1", "b1", "c2", "p1", "p2", "p3", "b2", "b3"]


def test_many_boosted_jobs_keep_integer_order_keys(make_capacity, new_project):
    cap = make_capacity(global_cap=0, queue_cap=1000,
                        env={"KILN_TIER_PARTNER_DAILY_JOBS": "1000"})
    pid = new_project("u")
    ids = [cap.start(pid, "u", "bootstrapper", "app").job.job_id for _ in range(2)]
    ids += [cap.start(pid, "u", "partner", "app").job.job_id for _ in range(300)]
    order = cap.redis.zrange(cap.keys.queue(), 0, -1, withscores=True)
    assert [i for i, _ in order] == ids[2:] + ids[:2]  # partners in FIFO order, then the two
    assert all(score == int(score) for _, score in order)


def test_positions_match_admission_order(make_capacity, new_project, cstore):
    cap = make_capacity(global_cap=1)
    running = cap.start(new_project("x"), "x", "bootstrapper", "app").job.job_id
    tiers = ["bootstrapper", "partner", "bootstrapper", "cto_scale", "partner", "bootstrapper"]
    waiting = [cap.start(new_project(f"u{i}"), f"u{i}", t, "app").job.job_id
               for i, t in enumerate(tiers)]
    reported = {job_id: cap.position(job_id) for job_id in waiting}
    assert sorted(reported.values()) == list(range(1, len(waiting) + 1))
    started = []
    while cap.queue_depth():
        free_slot(cstore, running)
        [(running, _)] = cap.admit()
        started.append(running)
    assert started == sorted(waiting, key=reported.__getitem__)


def test_enqueue_replayed_job(make_capacity, new_project, cstore):
    cap = make_capacity(global_cap=2)
    job_id = cap.start(new_project("u"), "u", "partner", "app").job.job_id
    free_slot(cstore, job_id)
    assert cstore.reopen(job_id, 1, Status.CODE)[0] == "ok"
    cap.enqueue(job_id)
    cap.enqueue(job_id)  # twice: still one place
    assert cap.queue_depth() == 1
    assert cap.admit() == [(job_id, 2)]
    cap.enqueue(job_id)  # already holds a slot: not queued again
    assert cap.queue_depth() == 0


def test_stale_admissions_and_reap(make_capacity, new_project, cstore, clock):
    cap = make_capacity(global_cap=3)
    job_id = cap.start(new_project("u"), "u", "partner", "app").job.job_id
    assert cap.stale_admissions(60) == []
    clock.advance(61)
    assert cap.stale_admissions(60) == [(job_id, 1)]  # its `starting` never arrived
    cstore.redis.delete(cstore.keys.job(job_id))  # vanished: its slot must not leak
    assert cap.reap_slots() == [job_id] and live_ids(cstore) == set()
