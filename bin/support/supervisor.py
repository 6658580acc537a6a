"""Run child processes and restart them when they exit, the way a process manager would.

The `dramatiq` CLI exits when any of its worker processes dies; in production the compose
restart policy brings it back, in `bin/dev` (and the reliability tests) this does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


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
        self._stop = threading.Event()
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
            child.process = subprocess.Popen(child.argv, env=child.env, start_new_session=True,
                                             stdout=out, stderr=out)
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
                if child.process and child.process.poll() is not None and not self._stop.is_set():
                    code = child.process.returncode
                    # Back off when a child keeps dying right after it starts.
                    quick = time.monotonic() - child.started_at < 2
                    if quick:
                        time.sleep(min(5, 0.5 * (child.restarts + 1)))
                    child.restarts += 1
                    self.on_event(f"{child.name} exited ({code}); restarting")
                    self._spawn(child)

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
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
