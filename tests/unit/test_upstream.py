"""The library code Kiln copies, overrides or leans on, pinned by a hash of its source.

Kiln keeps Dramatiq's Redis broker but runs its own consumer loop, its dispatch on a
connection of the thread's own, and writes Dramatiq's queue layout from its hand-off script;
it sends SSE without sse-starlette's per-send timeout; its per-thread Redis connections are
made like redis-py's pool makes them. pyproject.toml pins those libraries to a minor version;
when an upgrade changes any of this code, this test fails and says what to re-check. Update a
hash only after re-checking (and, where Kiln copies code, re-copying) what it names.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from pathlib import Path
from typing import Any

import pytest

_CONSUMER = "actors/consumer.py (KilnConsumer)"
_LAYOUT = ("actors/broker.py (queued_form, delivery) and the queue writes of "
           "domain/lua/hand_off*.lua and redrive.lua")

# upstream name -> (first 16 hex digits of the sha256 of its source, what to re-check)
WATCHED: dict[str, tuple[str, str]] = {
    "dramatiq.brokers.redis._RedisConsumer.__next__":
        ("b8245bc4ab8044d6", f"{_CONSUMER}.__next__, a copy of it with two waits added"),
    "dramatiq.brokers.redis._RedisConsumer.__init__":
        ("c626986d71660eb6", f"{_CONSUMER}: the attributes its __next__ and close use"),
    "dramatiq.brokers.redis._RedisConsumer.ack":
        ("a44cb9ea8b6c3f92", f"{_CONSUMER}.ack, which skips it after a hand-off"),
    "dramatiq.brokers.redis._RedisConsumer.nack": ("573d58e9c2a0765e", f"{_CONSUMER}.nack"),
    "dramatiq.brokers.redis._RedisConsumer.requeue": ("4d8aac265b34222e", f"{_CONSUMER}.close"),
    "dramatiq.brokers.redis._RedisConsumer.outstanding_message_count":
        ("e428a98a5f25c927", f"{_CONSUMER}.fetch_at and its waits"),
    "dramatiq.brokers.redis.RedisBroker.__init__":
        ("f5bb0f17925f821a", "actors/broker.py (KilnRedisBroker): client, scripts, namespace"),
    "dramatiq.brokers.redis.RedisBroker.consume":
        ("1b12ab3db95da1ec", "actors/broker.py (KilnRedisBroker.consume, consumer_class)"),
    "dramatiq.brokers.redis.RedisBroker.enqueue":
        ("e1590deaae2f786a", f"{_LAYOUT}: what enqueue writes"),
    "dramatiq.brokers.redis.RedisBroker._dispatch":
        ("ee77793d07f17bbe", "actors/broker.py (KilnRedisBroker._dispatch, a copy of it)"),
    "dramatiq.brokers.redis.RedisBroker._should_do_maintenance":
        ("12c5be867fd067ad", "actors/broker.py (KilnRedisBroker._dispatch calls it)"),
    "dramatiq.brokers.redis.RedisBroker._max_unpack_size":
        ("502754eaaa6b949e", "actors/broker.py (KilnRedisBroker._dispatch calls it)"),
    "dramatiq/brokers/redis/dispatch.lua":
        ("ba4d872e4fb204eb", f"{_LAYOUT}: key names, enqueue and ack; the maintenance's KEYS "
                             "(docs/operations.md, Redis layout)"),
    "dramatiq.message.Message.encode": ("0e136c5f6738aa4d", f"{_LAYOUT}: the encoding"),
    "dramatiq.message.Message.asdict": ("f063b829953f8e27", f"{_LAYOUT}: the encoding"),
    "dramatiq.message.Message.copy": ("62ad5eedc223a4f6", "actors/broker.py (queued_form)"),
    "dramatiq.worker.Worker.stop":
        ("b07f970155fef59e", "actors/consumer.py (Draining): worker_shutdown before the "
                             "consumers stop, and Worker.consumers"),
    "dramatiq.worker.ConsumerThread.run":
        ("6003fa99242662db", "actors/consumer.py (Draining) and KilnRedisBroker.consume: the "
                             "thread makes its consumer itself, as `.consumer`"),
    "sse_starlette.sse.EventSourceResponse._send_with_timeout":
        ("423dc62c03f8c971", "web/sse.py (_EventStream overrides it)"),
    "sse_starlette.sse.EventSourceResponse._stream_response":
        ("d1fdbb7b03629f6f", "web/sse.py (_EventStream): events still go through the override"),
    "sse_starlette.sse.EventSourceResponse._ping":
        ("3cca030508f237b0", "web/sse.py (_EventStream): pings still go through the override"),
    "redis.connection.ConnectionPool.make_connection":
        ("492dff0f75512e8e", "domain/direct_script.py (_connection makes one the same way, "
                             "outside the pool's count)"),
    "redis.connection.BlockingConnectionPool.make_connection":
        ("ab0ea90196f030cf", "domain/direct_script.py (_connection, as above)"),
}


def _source(name: str) -> bytes:
    if name.endswith(".lua"):  # a file of an installed package
        package, _, path = name.partition("/")
        root = Path(importlib.import_module(package).__file__).parent
        return (root / path).read_bytes()
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            # A class's own attribute (a property object, not its value).
            obj = vars(obj)[attr] if isinstance(obj, type) and attr in vars(obj) else \
                getattr(obj, attr)
        if isinstance(obj, property):
            obj = obj.fget
        return inspect.getsource(obj).encode()
    raise ImportError(name)


@pytest.mark.parametrize("name", sorted(WATCHED))
def test_the_upstream_code_kiln_relies_on_is_unchanged(name):
    expected, recheck = WATCHED[name]
    actual = hashlib.sha256(_source(name)).hexdigest()[:16]
    assert actual == expected, (
        f"{name} changed upstream (sha256 {actual}, was {expected}): re-check {recheck} "
        "against the new code, then update its hash in tests/unit/test_upstream.py")
