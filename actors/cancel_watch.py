"""Cancel checks for every stage a worker process runs, in one Redis call per interval.

A stage waiting on a remote (a sandbox command, the model API) asks whether its job was
cancelled about every 100 ms. Asked by each thread, that is ten round trips a second per
waiting stage: 512 threads made ~4,500 Redis calls and a whole CPU core of a worker process
per second, doing nothing (docs/performance.md, "Threads"). Instead, each process keeps the
set of jobs its stages run and one thread reads all their cancel flags with a single MGET
every `interval_s`; a stage's check reads the answer from memory.

If that thread has not heard from Redis for a while (an outage), a check asks Redis itself,
as before, so a cancel is never missed for long.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from domain.logs import get_logger

log = get_logger("kiln.cancel")


class CancelWatch:
    def __init__(self, interval_s: float = 0.1, stale_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self.stale_s = stale_s
        self._watched: Counter[str] = Counter()  # cancel flag key -> stages watching it
        self._cancelled: set[str] = set()
        self._client: redis.Redis | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._fresh_at = 0.0  # monotonic time of the last answer from Redis
        self._sleeping = False  # nothing to watch: the thread waits for `_wake`
        self._pid = 0

    @contextmanager
    def watching(self, client: redis.Redis, key: str) -> Iterator[None]:
        """While the block runs, `cancelled(client, key)` answers from the shared poll."""
        if self._pid != os.getpid():  # first use in this (possibly forked) process
            self._start()
        with self._lock:
            self._client = client  # one Redis per process; the latest services' client
            self._watched[key] += 1
        if self._sleeping:  # Event.set() is a syscall: only for a thread that waits on it
            self._wake.set()
        try:
            yield
        finally:
            with self._lock:
                self._watched[key] -= 1
                if self._watched[key] <= 0:
                    del self._watched[key]
                    self._cancelled.discard(key)

    def cancelled(self, client: redis.Redis, key: str) -> bool:
        if key in self._cancelled:
            return True
        if key in self._watched and time.monotonic() - self._fresh_at < self.stale_s:
            return False
        return bool(client.exists(key))  # not watched here, or the poll is behind: ask

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._watched, self._cancelled, self._client = Counter(), set(), None
            threading.Thread(target=self._run, name="kiln-cancel-watch", daemon=True).start()

    def _run(self) -> None:
        while True:
            with self._lock:
                keys, client = list(self._watched), self._client
            if not keys or client is None:
                self._sleeping = True
                self._wake.wait(1.0)  # nothing runs here: sleep until a stage starts
                self._sleeping = False
                self._wake.clear()
                continue
            try:
                flags = client.mget(keys)
            except redis.RedisError as exc:  # an outage: checks ask Redis themselves meanwhile
                log.debug("cancel_watch.failed", error=type(exc).__name__)
            else:
                self._cancelled.update(k for k, flag in zip(keys, flags, strict=True) if flag)
                self._fresh_at = time.monotonic()
            time.sleep(self.interval_s)  # the poll interval a cancel check promises


watch = CancelWatch()
