"""A Lua script for the stage hot path, called on a connection of the thread's own.

redis-py's pooled call (a pool checkout that polls the socket for stray data, its retry and
observability wrappers, the Script object's SHA handling) costs about four times the call
itself: ~100 µs of CPU per round trip on a worker that makes two per stage. Here each thread
keeps one connection (made by the client's own pool, so the same URL, timeouts and decoding)
and sends EVALSHA on it directly.

Errors keep redis-py's meaning: a failed send is retried once on a fresh connection (the
server never saw the command); a failed read raises ConnectionError, as the pooled call would
once its retries are spent (the script may have run: every caller's script tells a repeat).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import redis
from redis.exceptions import NoScriptError

_local = threading.local()


def _connection(client: redis.Redis) -> Any:
    conns = getattr(_local, "conns", None)
    if conns is None or _local.pid != os.getpid():  # a forked worker makes its own
        conns = _local.conns = {}
        _local.pid = os.getpid()
    conn = conns.get(id(client))
    if conn is None:
        conn = conns[id(client)] = client.connection_pool.make_connection()
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
