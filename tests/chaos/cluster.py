"""The system under chaos: its own append-only Redis (so it can be restarted on the same data)
and several supervised `dramatiq actors` CLIs, so killing one worker never stops them all."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import time
from pathlib import Path

from bin.support.embedded_redis import EmbeddedRedis
from tests.chaos.plan import ChaosPlan
from tests.support.workers import WorkerProcesses, worker_env


def _dramatiq_processes(sid: int) -> dict[int, int]:
    """pid -> ppid of the dramatiq processes (CLI master and its worker children) in one CLI's
    session; the `sh -c` wrapper that redirects the log is left out."""
    found: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if (int(stat[3]) == sid and stat[0] not in ("Z", "X") and b"dramatiq" in argv[1:3]
                and not argv[0].endswith(b"sh")):
            found[int(entry.name)] = int(stat[1])
    return found


class ChaosCluster:
    def __init__(self, root: Path, plan: ChaosPlan) -> None:
        self.root = root
        self.plan = plan
        self.redis = EmbeddedRedis(data_dir=root / "redis", appendonly=True)
        self.sandbox_root = root / "sandboxes"
        self.clis: list[WorkerProcesses] = []
        self.kills = 0
        self.redis_restarts = 0
        self.redis_down_s = 0.0
        self.freezes = 0
        self.frozen: dict[int, float] = {}  # pid -> when it is resumed
        self.events: list[str] = []  # what the chaos did and when, next to the worker logs

    def event(self, what: str) -> None:
        stamp = time.strftime("%H:%M:%S", time.gmtime()) + f"{time.time() % 1:.3f}"[1:]
        self.events.append(f"{stamp} {what}")

    @property
    def url(self) -> str:
        return self.redis.url

    def env(self) -> dict[str, str]:
        p = self.plan
        return worker_env(
            self.url, self.sandbox_root,
            # Recovery in seconds: a dead worker's messages return once its heartbeat is
            # older than the timeout, checked on every broker command.
            KILN_HEARTBEAT_TIMEOUT_MS=str(p.heartbeat_timeout_ms),
            KILN_MAINTENANCE_CHANCE="1000000",
            KILN_MAX_DELIVERIES=str(p.max_deliveries),
            KILN_GLOBAL_SANDBOX_CAP=str(p.global_cap),
            KILN_GENERATOR="template", KILN_SANDBOX="local")

    def start(self) -> ChaosCluster:
        self.redis.start()
        self.sandbox_root.mkdir(parents=True, exist_ok=True)
        for i in range(self.plan.worker_clis):
            cli = WorkerProcesses(self.env(), processes=1, threads=self.plan.threads,
                                  log_path=self.root / f"workers-{i}.log")
            # The CLI master waits this long for a booting worker to report ready before it
            # watches for deaths (default 30 s): a worker killed while it boots would stall
            # its CLI's restart for 30 s. Kiln has no fork processes, so 1 s loses nothing.
            cli.argv += ["--worker-fork-timeout", "1000"]
            self.clis.append(cli.start())
        return self

    def worker_pids(self) -> list[int]:
        """Worker children (the processes running actors) of every CLI that has them up."""
        pids = []
        for cli in self.clis:
            procs = _dramatiq_processes(cli.master_pid)
            # A worker is forked by the CLI master; killing the master itself (e.g. while it
            # boots) would orphan its worker instead of crashing it.
            pids += [pid for pid, ppid in procs.items() if ppid in procs]
        return pids

    def kill_worker(self, rng: random.Random) -> int | None:
        """SIGKILL one random worker process (its CLI exits and its supervisor restarts it)."""
        pids = self.worker_pids()
        if not pids:
            return None
        victim = rng.choice(pids)
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            return None
        self.kills += 1
        self.event(f"SIGKILL worker {victim}")
        return victim

    def created_sandboxes(self) -> set[str]:
        """Every sandbox this run's workers created (their JSON logs say so before anything
        runs in one), to tell this run's sandbox processes from other runs' on the host."""
        ids = set()
        for path in self.root.glob("workers-*.log"):
            for line in path.read_text(errors="replace").splitlines():
                if '"sandbox_created"' in line:
                    with contextlib.suppress(ValueError):
                        ids.add(json.loads(line)["sandbox_id"])
        return ids

    def freeze_worker(self, rng: random.Random, seconds: float) -> int | None:
        """SIGSTOP one worker for longer than the broker's heartbeat timeout: alive but silent,
        so another worker recovers its messages and they run twice once it resumes."""
        pids = [pid for pid in self.worker_pids() if pid not in self.frozen]
        if not pids or self.frozen:  # one at a time: the others must be there to take over
            return None
        victim = rng.choice(pids)
        try:
            os.kill(victim, signal.SIGSTOP)
        except ProcessLookupError:
            return None
        self.frozen[victim] = time.monotonic() + seconds
        self.freezes += 1
        self.event(f"SIGSTOP worker {victim} for {seconds:.1f}s")
        return victim

    def thaw(self, everyone: bool = False) -> None:
        for pid, until in list(self.frozen.items()):
            if everyone or time.monotonic() >= until:
                del self.frozen[pid]
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
                self.event(f"SIGCONT worker {pid}")

    @property
    def cli_restarts(self) -> int:
        return sum(cli.restarts for cli in self.clis)

    def restart_redis(self) -> float:
        """Stop Redis (it flushes its append-only file), keep it down a while (an operator's
        restart, longer than redis-py's own reconnect retries hide), and start it again on the
        same data and socket while the workers hold connections. Returns the seconds down."""
        began = time.monotonic()
        self.redis.stop()
        time.sleep(self.plan.redis_outage_s)  # the outage itself is the load
        self.redis.start()
        down = time.monotonic() - began
        self.redis_restarts += 1
        self.redis_down_s += down
        self.event(f"redis restarted, down {down:.2f}s")
        return down

    def stop(self) -> None:
        self.thaw(everyone=True)
        (self.root / "chaos-events.log").write_text("\n".join(self.events) + "\n")
        for cli in self.clis:
            cli.stop()
        self.redis.stop()

    def __enter__(self) -> ChaosCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
