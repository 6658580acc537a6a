"""Several worker hosts with local sandboxes (real worker processes, real Redis, real
sandboxes): a job's stages after `starting` run on the host holding its sandbox; a lost
host's jobs finish on another host on a replacement sandbox, and nothing runs twice when the
lost host comes back; a job whose host died can still be cancelled."""

from __future__ import annotations

import pytest

from actors.sandbox.local import LocalRuntime
from actors.sandbox.registry import SandboxRegistry
from domain.capacity import Capacity
from domain.hosts import host_queue
from domain.messages import QUEUE, sender_broker, stage_message
from domain.status import Status
from domain.telemetry import Telemetry
from tests.hosts.cluster import WorkerHost
from tests.support.waiting import pid_alive, wait_for

AFTER_STARTING = ["scaffold", "code", "deps", "checks"]
SHORT_INSTALL = {"KILN_GENERATOR": "tests.support.generators:ShortInstall"}


@pytest.fixture
def hosts(request, redis_url, tmp_path, r):
    count, extra = request.param
    started = [WorkerHost(f"host-{i}", tmp_path, redis_url, **extra).start()
               for i in range(1, count + 1)]
    yield started
    for host in started:
        host.stop()


def _start(store, redis_url: str, user: str, queue: str = QUEUE) -> str:
    """Start a build; its `starting` message goes to `queue` (the shared one, or a host's
    own to pick the host that creates its sandbox)."""
    project_id = store.create_project(user, "Hosts")["project_id"]
    decision = Capacity(store).start(project_id, user, "partner", "a todo app")
    broker = sender_broker(redis_url)
    for job_id, attempt in decision.admitted:
        broker.enqueue(stage_message(Status.STARTING, job_id, attempt, queue=queue))
    return decision.job.job_id


def _terminal(store, job_ids: list[str], timeout: float) -> dict:
    def done():
        jobs = {j: store.get_job(j) for j in job_ids}
        return all(job.terminal for job in jobs.values()) and jobs
    return wait_for(done, timeout, interval=0.2, message="every build to finish")


def _ran(hosts: list[WorkerHost], job_id: str) -> dict[str, list[str]]:
    return {host.host_id: host.stage_runs(job_id) for host in hosts}


@pytest.mark.parametrize("hosts", [(2, {})], indirect=True)
def test_every_stage_after_starting_runs_on_the_host_holding_the_sandbox(hosts, store,
                                                                         redis_url):
    # Two builds start wherever the shared queue takes them; two start on a chosen host, so
    # both hosts hold sandboxes.
    job_ids = [_start(store, redis_url, "user-a"), _start(store, redis_url, "user-b"),
               _start(store, redis_url, "user-c", host_queue("host-1")),
               _start(store, redis_url, "user-d", host_queue("host-2"))]
    jobs = _terminal(store, job_ids, 120)
    registry = SandboxRegistry(store.redis)
    holders = set()
    for job_id, job in jobs.items():
        assert job.status == Status.READY, job.error_detail
        holder = job.sandbox_host
        holders.add(holder)
        assert holder in {h.host_id for h in hosts}
        assert registry.get(job.sandbox_id).host == holder
        assert job.preview_host == holder  # the app is served from there too
        assert job.sandbox_replacements == 0  # never a stage on a host without the sandbox
        ran = _ran(hosts, job_id)
        assert ran[holder][-len(AFTER_STARTING):] == AFTER_STARTING, ran
        others = [stage for host, stages in ran.items() if host != holder for stage in stages]
        assert set(others) <= {"starting"}, ran  # only `starting` may run elsewhere
        assert sum(len(stages) for stages in ran.values()) == 5, ran  # each stage once
    assert holders == {"host-1", "host-2"}


@pytest.mark.parametrize("hosts", [(2, SHORT_INSTALL)], indirect=True)
def test_a_lost_hosts_builds_finish_on_another_host_and_nothing_runs_twice(hosts, store,
                                                                           redis_url,
                                                                           broker_r):
    lost, other = hosts
    job_ids = [_start(store, redis_url, f"user-{i}", host_queue(lost.host_id))
               for i in range(2)]
    # Both in `deps` (a 4 s install) on the host about to be lost.
    wait_for(lambda: all(store.get_job(j).status == Status.DEPS for j in job_ids), 60,
             interval=0.1, message="both builds in deps")
    assert {store.get_job(j).sandbox_host for j in job_ids} == {lost.host_id}
    lost.lose()

    jobs = _terminal(store, job_ids, 120)
    for job_id, job in jobs.items():
        assert job.status == Status.READY, job.error_detail
        assert job.sandbox_host == other.host_id and job.preview_host == other.host_id
        assert job.sandbox_replacements == 1  # restored from the stored files over there
        ran = _ran(hosts, job_id)
        assert ran[lost.host_id] == ["starting", "scaffold", "code"], ran  # deps cut short
        assert ran[other.host_id] == ["deps", "checks"], ran
        assert other.events(job_id, "sandbox.replaced")
    moves = Telemetry(store.redis, store.prefix).snapshot().counters.get("host_lost_moves", {})
    assert moves == {("deps", "taken_over"): 2}  # each build's running stage handed over

    # The lost worker's messages are still held for its host's queue (only a consumer of
    # that queue recovers a dead worker's messages of it): the host comes back under the same
    # name, gets them back and drops them; nothing runs a second time.
    host_queue_key = f"dramatiq:{host_queue(lost.host_id)}"
    assert broker_r.hlen(f"{host_queue_key}.msgs") >= 2
    lost.start()
    wait_for(lambda: broker_r.llen(host_queue_key) == 0
             and broker_r.hlen(f"{host_queue_key}.msgs") == 0, 30, interval=0.1,
             message="the returning host to take its old messages")
    for job_id in job_ids:
        wait_for(lambda j=job_id: lost.events(j, "stage.dropped"), 10, interval=0.1,
                 message="the old message dropped")
        assert lost.stage_runs(job_id) == ["starting", "scaffold", "code"]
        job = store.get_job(job_id)
        assert job.status == Status.READY and job.sandbox_host == other.host_id


@pytest.mark.parametrize("hosts", [(2, SHORT_INSTALL)], indirect=True)
def test_a_build_whose_host_died_can_be_cancelled(hosts, store, redis_url):
    lost, other = hosts
    job_id = _start(store, redis_url, "user-1", host_queue(lost.host_id))
    wait_for(lambda: store.get_job(job_id).status == Status.DEPS, 60, interval=0.1,
             message="the build in deps")
    sandbox_id = store.get_job(job_id).sandbox_id
    processes = lost.processes()
    lost.lose()

    result = Capacity(store).cancel(store.get_job(job_id), "Cancelled by user")
    assert result.ok
    job = store.get_job(job_id)
    assert job.status == Status.FAILED and job.cancelled and job.error_code == "cancelled"
    # Its slots are free, and a live host's reaper drops its sandbox's record once the lost
    # host's heartbeat is gone.
    assert store.redis.zcard(store.keys.live_global()) == 0
    assert store.redis.scard(store.keys.live_user("user-1")) == 0
    registry = SandboxRegistry(store.redis)
    wait_for(lambda: registry.get(sandbox_id) is None, 30, interval=0.1,
             message="the lost host's sandbox record dropped")
    assert not other.stage_runs(job_id)  # never resumed anywhere

    # The host comes back: its leftover message meets the cancel, and its reaper clears the
    # sandbox nobody registered any more (one caught launching by the SIGKILL can outlive its
    # worker until then).
    lost.start()
    runtime = LocalRuntime(lost.sandbox_root)
    wait_for(lambda: not runtime.list_live(), 30, interval=0.1,
             message="the returning host to clear its leftover sandbox")
    wait_for(lambda: not any(pid_alive(pid) for pid in processes), 30, interval=0.1,
             message="every process of the lost host's first life, sandbox included, gone")
    assert store.get_job(job_id).status == Status.FAILED
