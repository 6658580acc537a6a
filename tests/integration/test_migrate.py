"""bin/migrate (bin/support/migrate.py) on a database an older Kiln wrote: Dramatiq's keys move
to the broker's database, merged with what a newer process already put there; a second run
changes nothing."""

from __future__ import annotations

import dataclasses

import pytest

from bin.support.migrate import migrate, move_broker_keys
from domain.redis_client import database
from domain.settings import ConfigError, Settings


@pytest.fixture
def settings(redis_url) -> Settings:
    return dataclasses.replace(Settings.from_env(), redis_url=redis_url)


def _old_broker_keys(r) -> None:
    """Dramatiq's layout as an older Kiln left it in Kiln's own database: two queued messages,
    one fetched by a worker that has since died, its heartbeat, a dead-lettered message."""
    r.rpush("dramatiq:kiln", "m1", "m2")
    r.hset("dramatiq:kiln.msgs", mapping={"m1": "one", "m2": "two", "m0": "zero"})
    r.sadd("dramatiq:__acks__.w-old.kiln", "m0")
    r.zadd("dramatiq:__heartbeats__", {"w-old": 1000})
    r.zadd("dramatiq:kiln.XQ", {"mx": 5})
    r.hset("dramatiq:kiln.XQ.msgs", "mx", "dead")


def test_dramatiqs_keys_move_to_the_broker_database(settings, r, broker_r):
    _old_broker_keys(r)
    r.set("kiln:job:abc", "stays")  # not Dramatiq's
    assert migrate(settings) == [f"moved 6 Dramatiq key(s) to database {settings.broker_db}"]
    assert r.keys("dramatiq:*") == [] and r.get("kiln:job:abc") == "stays"
    assert broker_r.lrange("dramatiq:kiln", 0, -1) == ["m1", "m2"]
    assert broker_r.hgetall("dramatiq:kiln.msgs") == {"m1": "one", "m2": "two", "m0": "zero"}
    assert broker_r.smembers("dramatiq:__acks__.w-old.kiln") == {"m0"}
    assert broker_r.zscore("dramatiq:__heartbeats__", "w-old") == 1000
    assert broker_r.hget("dramatiq:kiln.XQ.msgs", "mx") == "dead"
    assert migrate(settings) == []  # a second run finds nothing left to move


def test_keys_a_newer_process_made_first_are_merged_not_overwritten(settings, r, broker_r):
    _old_broker_keys(r)
    broker_r.rpush("dramatiq:kiln", "n1")
    broker_r.hset("dramatiq:kiln.msgs", mapping={"n1": "new", "m1": "newer copy"})
    broker_r.zadd("dramatiq:__heartbeats__", {"w-new": 2000})
    migrate(settings)
    assert r.keys("dramatiq:*") == []
    assert broker_r.lrange("dramatiq:kiln", 0, -1) == ["m1", "m2", "n1"]  # the older first
    assert broker_r.hgetall("dramatiq:kiln.msgs") == {"n1": "new", "m1": "newer copy",
                                                      "m2": "two", "m0": "zero"}
    assert broker_r.zrange("dramatiq:__heartbeats__", 0, -1) == ["w-old", "w-new"]


def test_moving_into_kilns_own_database_is_refused(r, redis_url):
    with pytest.raises(ConfigError):
        move_broker_keys(r, database(redis_url), database(redis_url))
