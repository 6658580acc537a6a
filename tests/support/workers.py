"""Real `dramatiq actors` worker processes for tests, supervised like bin/dev does."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

from bin.support.supervisor import Supervisor
from tests.support.procfs import read_all

ROOT = Path(__file__).resolve().parents[2]


def worker_env(redis_url: str, sandbox_root: Path, **extra: str) -> dict[str, str]:
    return {"REDIS_URL": redis_url, "KILN_SANDBOX_ROOT": str(sandbox_root),
            "KILN_LOG_FORMAT": "json", "PYTHONPATH": str(ROOT), **extra}


class WorkerProcesses:
    """`dramatiq actors` under a supervisor that restarts it when a worker child dies."""

    def __init__(self, env: dict[str, str], processes: int = 1, threads: int = 2,
                 log_path: Path | None = None) -> None:
        self.supervisor = Supervisor(on_event=lambda _msg: None)
        self.env = env
        self.argv = [sys.executable, "-m", "dramatiq", "actors", "--processes", str(processes),
                     "--threads", str(threads)]
        self.log_path = log_path

    def start(self) -> WorkerProcesses:
        if self.log_path:  # worker logs go to a file the test can search (debug_id)
            self.argv = ["/bin/sh", "-c", " ".join(self.argv) + f" >>{self.log_path} 2>&1"]
        self.supervisor.add("workers", self.argv, self.env)
        self.supervisor.start()
        return self

    @property
    def master_pid(self) -> int:
        return self.supervisor.children[0].process.pid

    @property
    def restarts(self) -> int:
        return self.supervisor.children[0].restarts

    def worker_pids(self) -> list[int]:
        """The worker children (python processes running actors) of the current CLI."""
        cmdlines = dict(read_all("cmdline"))
        found = []
        for pid, stat in read_all("stat"):
            sid = int(stat.rsplit(b")", 1)[1].split()[3])
            if sid == self.master_pid and pid != sid and b"dramatiq" in cmdlines.get(pid, b""):
                found.append(pid)
        # The CLI master forks the workers; the lowest pids after the shell/master are them.
        return sorted(found)

    def kill_worker(self) -> int:
        pids = self.worker_pids()
        victim = pids[-1]
        os.kill(victim, signal.SIGKILL)
        return victim

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the CLI and wait until every process of its session is gone. The `sh -c` log
        wrapper dies on SIGTERM at once while dramatiq finishes its running messages: a worker
        still alive after stop() would take the next test's messages from the shared Redis."""
        sid = self.master_pid
        self.supervisor.stop()
        deadline = time.monotonic() + timeout
        while _session(sid) and time.monotonic() < deadline:
            time.sleep(0.05)  # waiting on processes we cannot join (not our children)
        for pid in _session(sid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _session(sid: int) -> list[int]:
    """Live (non-zombie) processes of one session."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat[3]) == sid and stat[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return found
