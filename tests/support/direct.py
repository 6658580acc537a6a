"""Test clean-up for domain/direct_script.py's per-thread connections.

Each thread keeps one connection per client until the client is collected. Tests make many
short-lived clients (bytes and str, one broker each): closing a client's connection when the
test ends keeps the socket count flat without waiting for the garbage collector."""

from __future__ import annotations

import redis

from domain import direct_script


def forget_direct_connection(client: redis.Redis) -> None:
    """Close and drop this thread's direct connection for `client`, if it made one."""
    conns = getattr(direct_script._local, "conns", None)
    conn = conns.pop(client, None) if conns is not None else None
    if conn is not None:
        conn.disconnect()
