"""The embedded Redis launcher: data survives a restart (bin/dev's second run finds the
first's jobs), and a stop leaves no server behind."""

from __future__ import annotations

import redis

from bin.support.embedded_redis import EmbeddedRedis
from tests.support.waiting import pid_alive


def test_append_only_data_survives_a_restart_and_stop_leaves_nothing(tmp_path):
    server = EmbeddedRedis(data_dir=tmp_path / "redis")
    client = redis.Redis.from_url(server.start())
    client.set("kiln:probe", "kept")
    pid = server.process.pid
    server.stop()
    assert not pid_alive(pid)
    client = redis.Redis.from_url(server.start())
    assert client.get("kiln:probe") == b"kept"
    server.stop()


def test_a_crashed_server_restarts_on_its_append_only_file(tmp_path):
    server = EmbeddedRedis(data_dir=tmp_path / "redis")
    client = redis.Redis.from_url(server.start())
    client.set("kiln:probe", "kept")
    # Redis writes the append-only file before it replies, so an acknowledged write survives
    # the process being killed (the kernel still has it; only a machine crash could lose it).
    client.close()
    server.kill()
    client = redis.Redis.from_url(server.start())
    assert client.get("kiln:probe") == b"kept"
    server.stop()
