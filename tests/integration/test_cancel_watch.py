"""The shared cancel poll (actors/cancel_watch.py) against real Redis: every watched stage's
cancel is seen within a few polls, with one MGET per poll however many stages wait, and a
check whose poll has fallen behind asks Redis itself."""

from __future__ import annotations

from contextlib import ExitStack

import redis

from actors.cancel_watch import CancelWatch
from tests.support.waiting import wait_for


class Counting:
    """The test's Redis client, counting the calls a cancel check can make."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.calls = {"mget": 0, "exists": 0}

    def mget(self, keys: list[str]) -> list:
        self.calls["mget"] += 1
        return self.client.mget(keys)

    def exists(self, key: str) -> int:
        self.calls["exists"] += 1
        return self.client.exists(key)


def test_many_waiting_stages_cost_one_mget_per_poll(r):
    watch = CancelWatch(interval_s=0.05, stale_s=30)  # a busy test machine may poll late
    client = Counting(r)
    keys = [f"kiln:job:j{i}:cancel" for i in range(200)]
    with ExitStack() as stack:
        for key in keys:
            stack.enter_context(watch.watching(client, key))
        # The second poll begins once the first has answered: from here checks use memory.
        wait_for(lambda: client.calls["mget"] >= 2, 5, message="the shared poll to run")
        for _ in range(10):  # 200 stages, each checking ten times
            for key in keys:
                assert not watch.cancelled(client, key)
        assert client.calls["exists"] == 0  # answered from memory
        r.set(keys[7], "1")
        wait_for(lambda: watch.cancelled(client, keys[7]), 5, interval=0.01,
                 message="the cancel to be seen")
        assert not watch.cancelled(client, keys[8])
        assert client.calls["exists"] == 0
    # Nobody watches any more: a check asks Redis itself.
    assert watch.cancelled(client, keys[7]) and client.calls["exists"] == 1


def test_a_check_asks_redis_itself_while_the_poll_is_behind(r, redis_url):
    watch = CancelWatch(interval_s=0.05, stale_s=0.2)
    unreachable = redis.Redis(unix_socket_path="/nonexistent/redis.sock",
                              socket_connect_timeout=0.1)
    key = "kiln:job:j1:cancel"
    with watch.watching(unreachable, key):  # its poll can never answer (an outage)
        r.set(key, "1")
        assert watch.cancelled(r, key)  # so the check asks, on the stage's own client
