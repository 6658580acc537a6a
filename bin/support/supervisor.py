"""Run child processes and restart them when they exit, the way a process manager would.

The `dramatiq` CLI exits when any of its worker processes dies; in production the compose
restart policy brings it back, in `bin/dev` (and the reliability tests) this does.

Children die with the supervisor's process, also when it is SIGKILLed: each gets SIGTERM from
the kernel (bin/support/parent_death.py), and stops in order (the dramatiq CLI stops its
workers). The watcher thread, which starts the restarted ones, therefore lives until every
child is gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bin.support.parent_death import die_with_parent


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: str | None = None
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)


class Supervisor:
    def __init__(self, on_event: Callable[[str], None] = print) -> None:
        self.children: list[Child] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()  # no more restarts
        self._stop = threading.Event()  # children gone: the watcher may end
        self._thread: threading.Thread | None = None
        self.on_event = on_event

    def add(self, name: str, argv: list[str], env: dict[str, str] | None = None,
            log_path: str | None = None) -> Child:
        child = Child(name, argv, {**os.environ, **(env or {})}, log_path)
        self.children.append(child)
        self._spawn(child)
        return child

    def _spawn(self, child: Child) -> None:
        # Own process group: Ctrl-C in the terminal reaches the supervisor, which then stops
        # every child in order instead of all of them dying at once.
        out = open(child.log_path, "ab") if child.log_path else None  # noqa: SIM115
        try:
            child.process = subprocess.Popen(die_with_parent(child.argv), env=child.env,
                                             start_new_session=True, stdout=out, stderr=out)
        finally:
            if out:
                out.close()  # the child holds its own descriptor
        child.started_at = time.monotonic()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            for child in self.children:
                if child.process is None or child.process.poll() is None:
                    continue
                # Back off when a child keeps dying right after it starts.
                quick = time.monotonic() - child.started_at < 2
                if quick and self._stopping.wait(min(5, 0.5 * (child.restarts + 1))):
                    break
                with self._lock:  # a stop either sees this restart or prevents it
                    if self._stopping.is_set():
                        break
                    child.restarts += 1
                    self.on_event(f"{child.name} exited ({child.process.returncode}); "
                                  "restarting")
                    self._spawn(child)

    def stop(self, timeout: float = 15.0) -> None:
        with self._lock:
            self._stopping.set()
        try:
            self._stop_children(timeout)
        finally:
            self._stop.set()  # only now may the watcher thread end (see the module docstring)
            if self._thread:
                self._thread.join(5)

    def _stop_children(self, timeout: float) -> None:
        for child in reversed(self.children):
            if child.process and child.process.poll() is None:
                os.killpg(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()
