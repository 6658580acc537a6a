"""Every Kiln Lua script touches only keys it was given in KEYS (the layout Redis Cluster needs),
and a job's keys (a project's) share one hash tag, so one slot.

The proof runs every script through its real caller against a real Redis, with each script's
`redis.call` checked first: the key arguments of every command (the server's own COMMAND
GETKEYS) must be among the script's KEYS. The one exception, the capacity scripts' keys named
by ids read from data (Keys.names: a queue entry's job, its user's and project's sets), must
have one of the shapes domain/keys.py gives; no other script may name a key itself.
"""

from __future__ import annotations

import dataclasses

import pytest
import redis
from redis.crc import key_slot

from actors.sandbox.registry import SandboxRegistry
from domain.capacity import Capacity
from domain.gate_store import GateStore
from domain.handoff import Delivery, HandOff, Writes
from domain.hosts import Hosts
from domain.keys import Keys
from domain.redis_client import connect
from domain.settings import Settings
from domain.status import STAGES, Status
from domain.store import JobStore
from domain.wake import Wakes
from tests.support.clock import FixedClock

_GUARD = """
local kiln_declared = {}
for _, key in ipairs(KEYS) do kiln_declared[key] = true end
local kiln_shapes = %(shapes)s
local function kiln_named(key)
  for _, shape in ipairs(kiln_shapes) do
    local before, after = shape[1], shape[2]
    if #key > #before + #after and key:sub(1, #before) == before
        and (after == '' or key:sub(-#after) == after) then return true end
  end
  return false
end
local function kiln_checked(...)
  local args = {...}
  if string.upper(args[1]) ~= 'SELECT' then
    for _, key in ipairs(redis.call('COMMAND', 'GETKEYS', unpack(args))) do
      if not kiln_declared[key] and not kiln_named(key) then
        error('undeclared key ' .. key .. ' in ' .. args[1])
      end
    end
  end
  return redis.call(...)
end
"""


def _lua(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


class GuardedRedis(redis.Redis):
    """A client whose scripts check every command's keys before they run it."""

    def register_script(self, script):  # type: ignore[override]
        source = script.decode() if isinstance(script, bytes) else script
        # Only scripts built with the capacity library may name keys from data.
        names = Keys().names().values() if "capacity_keys(" in source else ()
        shapes = "{" + ", ".join(f"{{{_lua(a)}, {_lua(b)}}}" for a, b in names) + "}"
        guarded = _GUARD % {"shapes": shapes} + source.replace("redis.call(", "kiln_checked(")
        return super().register_script(guarded)


@pytest.fixture
def guarded(redis_url, r) -> GuardedRedis:
    plain = connect(redis_url)
    client = GuardedRedis(connection_pool=plain.connection_pool)
    yield client
    client.close()


def test_the_guard_catches_an_undeclared_key(guarded):
    script = guarded.register_script("return redis.call('GET', 'kiln:job:{x}')")
    with pytest.raises(redis.ResponseError, match="undeclared key kiln:job:"):
        script(keys=[])
    assert guarded.register_script("return redis.call('GET', KEYS[1])")(keys=["a"]) is None


def test_every_script_touches_only_declared_keys(guarded, broker_r):
    clock = FixedClock(1_800_000_000.0)
    store = JobStore(guarded, clock=clock, stage_deadline_s=60, lease_s=120)
    capacity = Capacity(store, clock=clock, global_cap=1, queue_cap=10,
                        env={"KILN_TIER_PARTNER_DAILY_JOBS": "2"})
    handoff = HandOff(store, SandboxRegistry(guarded).key)
    gates = GateStore(guarded, clock=clock)
    delivery = Delivery(db=Settings.from_env().broker_db, queue="dramatiq:kiln",
                        messages="dramatiq:kiln.msgs", unacked="dramatiq:__acks__.w.kiln")
    project = store.create_project("user-1", "Declared")["project_id"]

    # start.lua, admit.lua (and enqueue's boost walk): one admitted, one waiting, one scheduled.
    first = capacity.start(project, "user-1", "partner", "first")
    waiting = capacity.start(project, "user-2", "cto_scale", "second").job.job_id
    capacity.start(project, "user-1", "partner", "third")
    scheduled = capacity.start(project, "user-1", "partner", "fourth").job
    assert first.admitted and scheduled.status == Status.SCHEDULED
    running = first.job.job_id
    capacity.publish_positions()  # positions.lua

    # enter_stage.lua, update.lua, replace_sandbox.lua, hand_off.lua, redrive.lua,
    # host_lost.lua.
    for stage in STAGES:
        entry = store.enter_stage(running, stage, 1, 0, 5, f"m-{stage}", with_files=True)
        assert entry.outcome == "entered"
        if stage == Status.CODE:
            assert store.update(running, stage, files={"app.py": "x"}, sandbox_id="sb-1")
            assert store.replace_sandbox(running, stage, "m-code", "sb-1", "sb-2", 3)[0] == \
                "replaced"
            send = dataclasses.replace(delivery, send_id="m-deps", send_data="deps")
            assert handoff.next_stage(running, stage, "m-code", Writes(files={"a": "b"}),
                                      send).outcome == "handed_off"
            job = store.get_job(running)
            takeover = dataclasses.replace(delivery, send_id="m-new", send_data="new")
            assert store.redrive(job, 5, takeover, send) == "waiting"
            # host_lost.lua: the job's host has no heartbeat.
            assert store.update(running, stage, sandbox_host="host-x")
            moved = dataclasses.replace(delivery, send_id="m-moved")
            assert Hosts(store).move_off(store.get_job(running), "host-x", moved, "next",
                                         "this") == "resent"

    # hand_off_ready.lua: READY frees the slot and admits the waiting job.
    res = handoff.ready(store.get_job(running), "m-checks", Writes(fields={"preview_url": "u"}),
                        dataclasses.replace(delivery, ack_id="m-checks"), clock.now() + 60,
                        capacity)
    assert res.outcome == "ready" and res.admitted == [(waiting, 1)]

    # transition.lua (terminal), reopen.lua, enqueue.lua, cancel.lua, reap_slots.lua.
    assert store.transition(waiting, Status.FAILED, error_code="x").ok
    assert store.reopen(waiting, 1, Status.STARTING)[0] == "ok"
    capacity.enqueue(waiting)
    assert capacity.cancel(store.get_job(waiting), "Cancelled").ok
    capacity.reap_slots()

    # wake_begin.lua, wake_step.lua, wake_done.lua, wake_fail.lua; reap_slots.lua on the slot
    # of a wake whose mark expired.
    wakes = Wakes(store, Settings())
    limits = capacity.limits("partner")
    seen = store.get_job(running).sandbox_id or ""
    view = wakes.begin(running, "user-1", project, seen, limits, 5)
    assert view.outcome == "started"
    assert wakes.step(running, view.wake_id, "claim", max_deliveries=3)[0] == "ok"
    assert wakes.step(running, view.wake_id, "restore", "sb-3")[0] == "ok"
    assert wakes.done(running, "user-1", project, view.wake_id, "sb-3", clock.now() + 60,
                      {"preview_upstream": "http://127.0.0.1:9"},
                      SandboxRegistry(guarded).key)[0] == "ok"
    view = wakes.begin(running, "user-1", project, "sb-3", limits, 5)
    assert wakes.fail(running, "user-1", project, view.wake_id, "wake_failed", "x")
    clock.advance(3600)
    assert wakes.begin(running, "user-1", project, "sb-3", limits, 5).outcome == "started"
    guarded.delete(Keys().wake(running))
    assert capacity.reap_slots() == [f"wake:{running}"]

    # release.lua: the scheduled build's day comes.
    clock.set(scheduled.scheduled_for + 1)
    capacity.release_scheduled()
    assert store.get_job(scheduled.job_id).status == Status.QUEUED

    # Gates: creation (a newer version's supersedes the pending one) and resolution.
    one = gates.create(project, "user-1", running, "build_v0_1")
    two = gates.create(project, "user-1", running, "build_v0_2")
    assert gates.get(one.gate_id)["resolution"] == "superseded"
    assert gates.resolve(two.gate_id, "solidify") == "ok"


def test_a_jobs_keys_share_a_slot_and_a_projects_keys_share_a_slot():
    keys = Keys()
    job, project = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
    of_job = {keys.job(job), keys.events(job), keys.cancel(job), keys.files(job),
              keys.feedback(job), keys.feedback_fingerprint(job), keys.resent(job, 2),
              keys.wake(job)}
    of_project = {keys.project(project), keys.project_jobs(project), keys.build_seq(project),
                  keys.project_versions(project), keys.project_gates(project),
                  keys.pending_gate(project), keys.gate_by_version(project, "build_v0_1")}
    assert {key_slot(k.encode()) for k in of_job} == {key_slot(job.encode())}
    assert {key_slot(k.encode()) for k in of_project} == {key_slot(project.encode())}
    assert keys.job(job) == f"kiln:job:{{{job}}}" and keys.events(job).endswith(":events")
