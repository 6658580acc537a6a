"""Worker metrics written off the stage's critical path.

Worker threads only add a stage's increments to an in-memory sum (no Redis, no wake-up); one
thread per process adds the sums to Redis every `interval_s` in one pipelined round trip,
however many stages ended meanwhile. Metrics land up to that interval later; a worker process
writes what is left when it exits, and sums a failed write keeps for the next one.
"""

from __future__ import annotations

import atexit
import os
import threading
from multiprocessing import util as mp_util

import redis

from domain.logs import get_logger
from domain.telemetry import Increments, metrics_key

log = get_logger("kiln.telemetry")

Sums = dict[str, int | float]


class TelemetryWriter:
    def __init__(self, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self._sums: dict[tuple[int, str], tuple[redis.Redis, Sums]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._written = threading.Condition()
        self._added = self._done = 0
        self._pid = 0

    def add(self, client: redis.Redis, prefix: str, increments: Increments) -> None:
        if self._pid != os.getpid():  # first use in this (possibly forked) process
            self._start()
        with self._lock:
            _, sums = self._sums.setdefault((id(client), prefix), (client, {}))
            for name, amount in increments:
                sums[name] = sums.get(name, 0) + amount
            self._added += 1

    def flush(self, timeout: float = 2.0) -> bool:
        """Write everything added so far now and wait for it (worker exit, tests)."""
        if self._pid != os.getpid():
            return True  # nothing was added in this process
        with self._lock:
            target = self._added
        self._wake.set()
        with self._written:
            return self._written.wait_for(lambda: self._done >= target, timeout)

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._sums, self._added, self._done = {}, 0, 0  # a fork's copy is not ours
            threading.Thread(target=self._run, name="kiln-telemetry", daemon=True).start()
            atexit.register(self.flush)
            mp_util.Finalize(None, self.flush, exitpriority=10)  # forked workers

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            with self._lock:
                batch, self._sums, upto = self._sums, {}, self._added
            failed = self._write(batch)
            if failed:
                with self._lock:  # keep them for the next write
                    for key, (client, sums) in failed.items():
                        _, mine = self._sums.setdefault(key, (client, {}))
                        for name, amount in sums.items():
                            mine[name] = mine.get(name, 0) + amount
            with self._written:
                self._done = upto
                self._written.notify_all()

    @staticmethod
    def _write(batch: dict[tuple[int, str], tuple[redis.Redis, Sums]]
               ) -> dict[tuple[int, str], tuple[redis.Redis, Sums]]:
        failed = {}
        for key, (client, sums) in batch.items():
            pipe = client.pipeline(transaction=False)
            for name, amount in sums.items():
                if isinstance(amount, int):
                    pipe.hincrby(metrics_key(key[1]), name, amount)
                else:
                    pipe.hincrbyfloat(metrics_key(key[1]), name, amount)
            try:
                pipe.execute()
            except redis.RedisError:  # a metrics write must never fail a stage: next second
                log.warning("metrics.write_failed", exc_info=True)
                failed[key] = (client, sums)
        return failed


writer = TelemetryWriter()
