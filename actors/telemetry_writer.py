"""Worker metrics written off the stage's critical path.

A stage end used to be one more Redis round trip in the worker thread, before the thread could
take the next message. Here worker threads only queue the write; one thread per process sends
whatever has queued in a single pipeline (under load, many stage ends per round trip). The
metrics land a moment later; a worker process flushes what is left when it exits.
"""

from __future__ import annotations

import atexit
import os
import queue
import threading
from collections.abc import Callable
from multiprocessing import util as mp_util
from typing import Any

import redis

from domain.logs import get_logger
from domain.telemetry import Telemetry

log = get_logger("kiln.telemetry")

Write = Callable[[Telemetry], None]


class _Recorder:
    """Stands in for the Redis client while a `Write` runs: keeps the commands it issues."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def pipeline(self, transaction: bool = False) -> _Recorder:
        return self

    def execute(self) -> list[Any]:
        return []

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args: self.calls.append((name, args))


class TelemetryWriter:
    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[redis.Redis, str, Write]] = queue.SimpleQueue()
        self._pid = 0
        self._lock = threading.Lock()
        self._pending = 0
        self._idle = threading.Event()
        self._idle.set()

    def put(self, client: redis.Redis, prefix: str, write: Write) -> None:
        if self._pid != os.getpid():  # first use in this (possibly forked) process
            with self._lock:
                if self._pid != os.getpid():
                    self._pid = os.getpid()
                    threading.Thread(target=self._run, name="kiln-telemetry",
                                     daemon=True).start()
                    atexit.register(self.flush)
                    mp_util.Finalize(None, self.flush, exitpriority=10)  # forked workers
        with self._lock:
            self._pending += 1
            self._idle.clear()
        self._queue.put((client, prefix, write))

    def flush(self, timeout: float = 2.0) -> bool:
        """Wait until everything queued so far is written (worker exit, tests)."""
        return self._idle.wait(timeout)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._write(batch)
            with self._lock:
                self._pending -= len(batch)
                if self._pending == 0:
                    self._idle.set()

    @staticmethod
    def _write(batch: list[tuple[redis.Redis, str, Write]]) -> None:
        pipes: dict[int, Any] = {}
        for client, prefix, write in batch:
            recorder = _Recorder()
            try:
                write(Telemetry(recorder, prefix))  # type: ignore[arg-type]
            except Exception:
                log.warning("metrics.write_failed", exc_info=True)
                continue
            pipe = pipes.setdefault(id(client), client.pipeline(transaction=False))
            for name, args in recorder.calls:
                getattr(pipe, name)(*args)
        for pipe in pipes.values():
            try:
                pipe.execute()
            except Exception:  # a metrics write must never fail a stage
                log.warning("metrics.write_failed", exc_info=True)


writer = TelemetryWriter()
