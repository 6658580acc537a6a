"""Fan-out of job event streams to SSE subscribers, one reader per process.

One task XREADs every subscribed stream in a single blocking call and hands each batch to the
subscribers' asyncio queues, so a thousand subscribers cost one Redis connection, not a
thousand. A new stream joins the read by appending to this process's own "wake" stream, which
is part of every XREAD, so the blocked call returns at once. Subscribers catch up on their own
(XRANGE after subscribing) and drop ids they have already delivered, so joins are gap-free.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from domain.keys import Keys
from domain.logs import get_logger

log = get_logger("kiln.web.hub")

Entry = tuple[str, dict[str, str]]
_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


_MAX = 2**64 - 1


def parse_id(value: str | None) -> str | None:
    """A stream id from a client (Last-Event-ID), or None when Redis would not take it."""
    if not value or not _ID.match(value):
        return None
    ms, seq = id_key(value)
    return value if ms <= _MAX and seq < _MAX else None


def id_key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


MAX_BACKLOG = 256  # batches a subscriber may fall behind before it is cut off


class Subscription:
    def __init__(self, key: str, start: str) -> None:
        self.key = key
        self.start = start  # the shared reader's cursor when this subscriber joined
        self.queue: asyncio.Queue[list[Entry] | None] = asyncio.Queue()
        self.overflowed = False

    async def get(self) -> list[Entry] | None:
        """The next batch of entries; None once this subscriber fell too far behind."""
        return None if self.overflowed else await self.queue.get()

    def put(self, entries: list[Entry]) -> None:
        if self.overflowed:
            return
        if self.queue.qsize() >= MAX_BACKLOG:  # a stuck client must not grow memory forever
            self.overflowed = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(entries)


class StreamHub:
    def __init__(self, client: aioredis.Redis, keys: Keys, block_ms: int = 5000,
                 count: int = 200) -> None:
        self.redis = client
        self.block_ms = block_ms
        self.count = count
        self._wake_key = keys.sse_wake(uuid.uuid4().hex)
        self._wake_id = "0-0"
        self._wake_pending = False
        self._subs: dict[str, set[Subscription]] = {}
        self._cursors: dict[str, str] = {}
        self._has_subs = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def subscriber_count(self) -> int:
        return sum(len(subs) for subs in self._subs.values())

    async def subscribe(self, key: str, cursor: str) -> Subscription:
        """Deliver every entry the reader sees from now on: those after `sub.start`. A stream
        new to the reader starts at `cursor`; otherwise entries between `cursor` and
        `sub.start` were already read, and the caller fetches them itself."""
        subs = self._subs.setdefault(key, set())
        new_key = not subs
        if new_key:
            self._cursors[key] = cursor
        sub = Subscription(key, self._cursors[key])
        subs.add(sub)
        self._has_subs.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="kiln-sse-hub")
        elif new_key:
            await self._wake()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.key)
        if subs is None:
            return
        subs.discard(sub)
        if not subs:
            del self._subs[sub.key]
            self._cursors.pop(sub.key, None)

    async def _wake(self) -> None:
        # One wake per XREAD round is enough: the reader rebuilds its key list each round.
        if self._wake_pending:
            return
        self._wake_pending = True
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.xadd(self._wake_key, {"w": "1"}, maxlen=16, approximate=True)
                pipe.expire(self._wake_key, 3600)
                await pipe.execute()
        except RedisError as exc:  # the reader's block timeout still picks the key up
            self._wake_pending = False
            log.warning("sse_wake_failed", error=type(exc).__name__)

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            if not self._subs:
                self._has_subs.clear()
                await self._has_subs.wait()
                continue
            self._wake_pending = False
            streams = {self._wake_key: self._wake_id, **self._cursors}
            try:
                reply = await self.redis.xread(streams, count=self.count, block=self.block_ms)
            except asyncio.CancelledError:
                raise
            except RedisError as exc:  # Redis down: subscribers wait (pings go on), we retry
                log.warning("sse_read_failed", error=type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            except Exception:  # deliberately any: the process's one reader outlives a bug
                log.exception("sse_reader_failed")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.1
            self._dispatch(reply)

    def _dispatch(self, reply: list[tuple[str, list[Entry]]] | None) -> None:
        for key, entries in reply or []:
            if not entries:
                continue
            if key == self._wake_key:
                self._wake_id = entries[-1][0]
                continue
            if key not in self._cursors:
                continue  # everyone left while we were reading
            self._cursors[key] = entries[-1][0]
            for sub in self._subs.get(key, ()):
                sub.put(entries)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._task = None
        with contextlib.suppress(Exception):
            await self.redis.delete(self._wake_key)
        await self.redis.aclose()
