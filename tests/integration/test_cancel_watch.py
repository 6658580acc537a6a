"""The shared cancel poll (actors/cancel_watch.py) against real Redis: every watched stage's
cancel is seen within a few polls, with one MGET per poll however many stages wait, and a
check whose poll has fallen behind asks Redis itself."""

from __future__ import annotations

from contextlib import ExitStack

import redis

from actors.cancel_watch import CancelWatch
from tests.support.waiting import wait_for


def _calls(r: redis.Redis, command: str) -> int:
    return int(r.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))


def test_many_waiting_stages_cost_one_mget_per_poll(r):
    watch = CancelWatch(interval_s=0.05)
    keys = [f"kiln:job:j{i}:cancel" for i in range(200)]
    with ExitStack() as stack:
        for key in keys:
            stack.enter_context(watch.watching(r, key))
        wait_for(lambda: _calls(r, "mget") >= 2, 5, message="the shared poll to run")
        exists, mgets = _calls(r, "exists"), _calls(r, "mget")
        for _ in range(2000):  # 200 stages, each checking ten times
            for key in keys[:20]:
                assert not watch.cancelled(r, key)
        assert _calls(r, "exists") == exists  # answered from memory
        r.set(keys[7], "1")
        wait_for(lambda: watch.cancelled(r, keys[7]), 2, interval=0.01,
                 message="the cancel to be seen")
        assert not watch.cancelled(r, keys[8])
        polls = _calls(r, "mget") - mgets
        assert 1 <= polls <= 100  # one per interval, not one per stage and check
    # Nobody watches any more: a check asks Redis itself.
    assert watch.cancelled(r, keys[7]) and _calls(r, "exists") == exists + 1


def test_a_check_asks_redis_itself_while_the_poll_is_behind(r, redis_url):
    watch = CancelWatch(interval_s=0.05, stale_s=0.2)
    unreachable = redis.Redis(unix_socket_path="/nonexistent/redis.sock",
                              socket_connect_timeout=0.1)
    key = "kiln:job:j1:cancel"
    with watch.watching(unreachable, key):  # its poll can never answer (an outage)
        r.set(key, "1")
        assert watch.cancelled(r, key)  # so the check asks, on the stage's own client
