"""A Lua script for the stage hot path, called on a connection of the thread's own.

redis-py's pooled call (a pool checkout that polls the socket for stray data, its retry and
observability wrappers, the Script object's SHA handling) costs about four times the call
itself: ~100 µs of CPU per round trip on a worker that makes two per stage. Here each thread
keeps one connection (made by the client's own pool, so the same URL, timeouts and decoding)
and sends EVALSHA on it directly.

Errors: a failed send is retried once on a fresh connection (the server never saw the
command). A failed read raises ConnectionError and is not retried, since the script may have
run; every caller's script tells a repeat (a resumed stage, a twin hand-off), and Kiln's stages
treat the error as a Redis outage (outage.py). Over TCP a connection the server dropped (a
restart) only shows on the read, so each thread sees that error once; a connection idle past
the client's health-check interval is pinged before use, as the pooled call would.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import redis
from redis.exceptions import NoScriptError

_local = threading.local()


def _connection(client: redis.Redis) -> Any:
    # Keyed by the client itself, weakly: a client that goes away takes its connections along
    # (redis-py closes a connection when it is collected).
    if getattr(_local, "pid", None) != os.getpid():  # a forked worker makes its own
        _local.conns = weakref.WeakKeyDictionary()
        _local.pid = os.getpid()
    conn = _local.conns.get(client)
    if conn is None:
        # Made like the pool's own (same class and settings) but not counted by it: a thread
        # keeps this one for life, and counted, 256 threads would use up a 256-connection pool
        # and every pooled call of the process would fail with "Too many connections". So a
        # process holds up to its pool's bound plus one per thread. (As redis-py 8.1's pools
        # make theirs, minus the count: tests/unit/test_upstream.py watches them.)
        pool = client.connection_pool
        conn = _local.conns[client] = pool.connection_class(**pool.connection_kwargs)
    return conn


class DirectScript:
    def __init__(self, client: redis.Redis, source: str) -> None:
        self.client = client
        self.script = client.register_script(source)

    def __call__(self, keys: Sequence[str], args: Sequence[str]) -> Any:
        command = ("EVALSHA", self.script.sha, len(keys), *keys, *args)
        conn = _connection(self.client)
        try:
            conn.send_command(*command)
        except (redis.ConnectionError, redis.TimeoutError):
            conn.send_command(*command)  # it reconnects: the first send never arrived
        try:
            return conn.read_response()
        except NoScriptError:  # the server restarted without its script cache
            self.client.script_load(self.script.script)
            conn.send_command(*command)
            return conn.read_response()
