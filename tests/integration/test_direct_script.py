"""DirectScript (domain/direct_script.py) against real Redis: EVALSHA on a connection of the
thread's own, with redis-py's error meanings (Lua errors raise, a lost script is reloaded, a
failed send is retried once, a failed read raises and is not run again)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import redis

from domain.direct_script import DirectScript, _connection
from domain.redis_client import connect
from tests.support.direct import forget_direct_connection

# Counts its runs in KEYS[1]; ARGV[1] == 'big' asks for a 4 MB reply.
COUNTING = """
local n = redis.call('INCR', KEYS[1])
if ARGV[1] == 'big' then return string.rep('x', 4 * 1024 * 1024) end
return n
"""


@pytest.fixture
def client(r: redis.Redis, redis_url: str) -> Iterator[redis.Redis]:
    """A str client of its own (`r` stays free to inspect and kill connections)."""
    c = connect(redis_url)
    yield c
    forget_direct_connection(c)
    c.close()


def _server_id(conn) -> int:
    """The server's CLIENT ID of a direct connection (CLIENT is not callable from Lua)."""
    conn.send_command("CLIENT", "ID")
    return int(conn.read_response())


def test_returns_the_reply_and_keys_and_args_reach_the_script(client, r):
    script = DirectScript(client, "redis.call('SET', KEYS[1], ARGV[2])\n"
                                  "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2], #KEYS, #ARGV}")
    assert script(["k1", "k2"], ["a", 7, "extra"]) == ["k1", "k2", "a", "7", 2, 3]
    assert r.get("k1") == "7"
    assert DirectScript(client, "return {#KEYS, #ARGV}")([], []) == [0, 0]


def test_replies_decode_as_the_clients_pool_says(redis_url, r):
    raw = redis.Redis.from_url(redis_url)  # bytes, like the broker's client
    try:
        assert DirectScript(raw, "return ARGV[1]")([], ["é"]) == "é".encode()
    finally:
        forget_direct_connection(raw)
        raw.close()


def test_a_lua_error_raises_response_error_and_the_connection_stays_usable(client, r):
    failing = DirectScript(client, "return redis.error_reply('boom: ' .. ARGV[1])")
    with pytest.raises(redis.ResponseError, match="boom: x") as raised:
        failing([], ["x"])
    assert not isinstance(raised.value, redis.exceptions.NoScriptError)
    r.set("a-string", "v")
    wrong_type = DirectScript(client, "return redis.call('LPUSH', KEYS[1], 'x')")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        wrong_type(["a-string"], [])
    assert DirectScript(client, COUNTING)(["n"], []) == 1


def test_a_flushed_script_cache_is_reloaded_and_the_call_runs_once(client, r):
    r.script_flush()  # an earlier test may have loaded it
    script = DirectScript(client, COUNTING)
    assert r.script_exists(script.script.sha) == [False]  # registering does not load it
    assert script(["n"], []) == 1
    r.script_flush()
    assert r.script_exists(script.script.sha) == [False]
    assert script(["n"], []) == 2  # NOSCRIPT -> SCRIPT LOAD -> EVALSHA, run once
    assert r.script_exists(script.script.sha) == [True]


def test_a_connection_the_server_dropped_is_replaced(client, r, redis_url):
    script = DirectScript(client, COUNTING)
    assert script(["n"], []) == 1
    before = _server_id(_connection(client))
    assert r.client_kill_filter(_id=before) == 1
    if redis_url.startswith("unix://"):
        # A unix socket refuses the send at once (EPIPE): retried on a fresh connection.
        assert script(["n"], []) == 2
    else:
        # Over TCP the send may land in the kernel's buffer and the read fail instead.
        try:
            assert script(["n"], []) == 2
        except redis.ConnectionError:
            assert r.get("n") == "1"
    assert script(["n"], []) == int(r.get("n"))
    assert _server_id(_connection(client)) != before


def test_a_failed_read_raises_and_is_not_run_again(client, r):
    """The server runs the script, then drops the connection instead of replying (the reply
    is over its output buffer limit): the caller hears ConnectionError, and the script ran
    once, not twice."""
    script = DirectScript(client, COUNTING)
    assert script(["n"], []) == 1
    limits = r.config_get("client-output-buffer-limit")["client-output-buffer-limit"]
    r.config_set("client-output-buffer-limit", "normal 1mb 1mb 0")
    try:
        with pytest.raises(redis.ConnectionError):
            script(["n"], ["big"])
    finally:
        r.config_set("client-output-buffer-limit", limits)
    assert r.get("n") == "2"
    assert script(["n"], []) == 3  # the next call reconnects


def test_each_thread_has_its_own_connection_outside_the_pool(client, r, monkeypatch):
    script = DirectScript(client, COUNTING)
    assert script(["n"], []) == 1  # loads the script (through the pool) before the pool goes
    main = _connection(client)
    assert _connection(client) is main

    def no_pool(*args, **kwargs):
        raise AssertionError("the client's pool was used")

    monkeypatch.setattr(client.connection_pool, "get_connection", no_pool)
    seen: dict[str, tuple[object, int, object]] = {}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            script(["n"], [])
            conn = _connection(client)
            script(["n"], [])
            seen[name] = (conn, _server_id(conn), _connection(client))
        except BaseException as e:  # noqa: BLE001 - reported in the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(name,)) for name in ("t1", "t2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert not errors, errors
    assert r.get("n") == "5"
    (c1, id1, again1), (c2, id2, again2) = seen["t1"], seen["t2"]
    assert c1 is again1 and c2 is again2  # a thread keeps its connection
    assert c1 is not c2 and main not in (c1, c2)
    assert len({id1, id2, _server_id(main)}) == 3  # three connections on the server too
    for conn in (c1, c2):
        conn.disconnect()


def test_more_threads_than_the_pool_has_connections_all_run(redis_url, r):
    """Each thread's own connection is not the pool's to count: a worker with more threads
    than its pool's connections must not leave its pooled calls "Too many connections"."""
    small = connect(redis_url, max_connections=2)  # redis-py's pool raises past its size
    script = DirectScript(small, COUNTING)
    errors: list[BaseException] = []
    pooled = threading.Lock()  # one pooled call at a time: within the pool's two
    all_connected = threading.Barrier(8)

    def work() -> None:
        try:
            script(["runs"], ["x"])
            all_connected.wait(10)  # now 8 threads hold a direct connection each
            with pooled:
                small.incr("pooled")
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)
        finally:
            forget_direct_connection(small)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert not errors and r.get("runs") == "8" and r.get("pooled") == "8"
    small.close()
