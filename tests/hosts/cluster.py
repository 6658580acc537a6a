"""Several worker hosts on this machine: each a `dramatiq actors` CLI with its own
KILN_HOST_ID, sandbox directory and log, as if it ran on a machine of its own. A host is lost
the hard way (SIGKILL, nothing restarts it) and may come back under the same name."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from bin.support.parent_death import die_with_parent
from tests.support.procfs import descendants, read_all
from tests.support.waiting import pid_alive, wait_for
from tests.support.workers import worker_env

# Quick enough for tests, slow enough that a busy 2-core machine never misses a beat (renewed
# every third of it): a lost host is noticed ~3 s after it dies.
HOST_TTL_S = "3"


class WorkerHost:
    def __init__(self, host_id: str, root: Path, redis_url: str, **extra: str) -> None:
        self.host_id = host_id
        self.sandbox_root = root / host_id / "sandboxes"
        self.sandbox_root.mkdir(parents=True, exist_ok=True)
        self.log_path = root / f"{host_id}.log"
        self.env = worker_env(
            redis_url, self.sandbox_root, KILN_HOST_ID=host_id, KILN_HOST_TTL_S=HOST_TTL_S,
            # A dead worker's unacknowledged messages go back on their queue within seconds.
            KILN_HEARTBEAT_TIMEOUT_MS="2000", KILN_MAINTENANCE_CHANCE="1000000",
            KILN_LOG_LEVEL="debug",  # every stage run's `stage.done` line
            **extra)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> WorkerHost:
        argv = [sys.executable, "-m", "dramatiq", "actors", "--processes", "1", "--threads",
                "2", "--worker-fork-timeout", "1000"]
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(die_with_parent(argv), env={**os.environ, **self.env},
                                            start_new_session=True, stdout=out, stderr=out)
        self.starts += 1
        return self

    def worker_pid(self) -> int:
        """The worker process (the one running actors) under the CLI."""
        assert self.process is not None
        master = self.process.pid
        return wait_for(lambda: _child(master), 30, message=f"{self.host_id}'s worker")

    def processes(self) -> set[int]:
        """The CLI and everything under it, sandboxes included."""
        assert self.process is not None
        return descendants(self.process.pid) | {self.process.pid}

    def lose(self) -> None:
        """SIGKILL the worker mid-stage: the host is gone (its sandboxes die with their
        worker); nothing restarts it. The CLI exits by itself once it has passed on the
        lines its worker logged (they travel through a pipe to it)."""
        assert self.process is not None
        os.kill(self.worker_pid(), signal.SIGKILL)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        left = self.processes()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
        for pid in left:  # sandboxes in their own sessions: never outlive the test
            with contextlib.suppress(ProcessLookupError):
                if pid_alive(pid):
                    os.kill(pid, signal.SIGKILL)

    def log(self) -> list[dict]:
        """The host's JSON log records. Two threads' lines can share a line of the file (one
        writes its newline after the other's line): each object is read on its own."""
        decoder, records = json.JSONDecoder(), []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            at = 0
            while (at := raw.find("{", at)) >= 0:
                try:
                    record, at = decoder.raw_decode(raw, at)
                except ValueError:
                    break
                if isinstance(record, dict):
                    records.append(record)
        return records

    def stage_runs(self, job_id: str) -> list[str]:
        """The stages this host ran to their end for the job, in order."""
        return [r["stage"] for r in self.log()
                if r.get("event") == "stage.done" and r.get("job_id") == job_id]

    def events(self, job_id: str, event: str) -> list[dict]:
        return [r for r in self.log() if r.get("event") == event and r.get("job_id") == job_id]


def _child(pid: int) -> int | None:
    for child, stat in read_all("stat"):
        fields = stat.rsplit(b")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] not in (b"Z", b"X"):
            return child
    return None

