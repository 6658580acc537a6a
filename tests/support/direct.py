"""Test clean-up for domain/direct_script.py's per-thread connections.

Each thread keeps one connection per client, keyed by the client's id(), and never closes it.
Tests make many short-lived clients (bytes and str, one broker each): forgetting a client's
connection when the test ends keeps the socket count flat and keeps a later client that
happens to get the same id() from inheriting a connection made for another."""

from __future__ import annotations

import redis

from domain import direct_script


def forget_direct_connection(client: redis.Redis) -> None:
    """Close and drop this thread's direct connection for `client`, if it made one."""
    conns = getattr(direct_script._local, "conns", None) or {}
    conn = conns.pop(id(client), None)
    if conn is not None:
        conn.disconnect()
