"""Dramatiq's keys in a database of their own (KILN_BROKER_DB) on Kiln's Redis server, with a
stage's hand-off still one script across both: the script's SELECT is its own on the
embedded redis-server 6.2, survives a restart from the append-only file, and a broker in
Kiln's own database is refused before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from actors.sandbox.registry import SandboxRegistry
from bin.support.embedded_redis import EmbeddedRedis
from domain.handoff import Delivery, HandOff, Writes
from domain.redis_client import broker_client, connect, database
from domain.settings import ConfigError, Settings
from domain.status import Status
from domain.store import JobStore

ROOT = Path(__file__).resolve().parents[2]
BROKER_DB = Settings.from_env().broker_db


def test_a_scripts_select_is_scoped_to_the_script(r, broker_r, redis_url):
    """What the hand-off relies on: after a script SELECTs the broker's database, the calling
    connection is still on Kiln's (one connection: a pipeline sends on one)."""
    pipe = r.pipeline(transaction=False)
    pipe.set("kiln:probe", "kiln")
    pipe.eval("redis.call('SELECT', ARGV[1]); redis.call('SET', KEYS[1], 'broker')", 1,
              "kiln:probe", BROKER_DB)
    pipe.get("kiln:probe")
    pipe.client_info()
    _, _, value, info = pipe.execute()
    assert value == "kiln" and int(info["db"]) == database(redis_url)
    assert broker_r.get("kiln:probe") == "broker"


def test_database_reads_both_url_forms():
    assert database("redis://127.0.0.1:6379/0") == 0
    assert database("redis://127.0.0.1:6379/3") == 3
    assert database("redis://127.0.0.1:6379") == 0
    assert database("unix:///tmp/redis.sock?db=2") == 2


@pytest.mark.parametrize(("url", "broker_db"), [
    ("redis://127.0.0.1:6379/0", 0), ("redis://127.0.0.1:6379/4", 4),
    ("unix:///tmp/redis.sock?db=1", 1), ("redis://127.0.0.1:6379", 0)])
def test_a_broker_in_kilns_own_database_is_refused(url, broker_db):
    with pytest.raises(ConfigError, match="KILN_BROKER_DB"):
        broker_client(url, broker_db)


def test_the_broker_client_is_on_the_broker_database_whatever_the_url_names(redis_url):
    client = broker_client(redis_url, BROKER_DB, max_connections=4)
    try:
        assert int(client.client_info()["db"]) == BROKER_DB
    finally:
        client.close()


def test_the_web_app_refuses_a_broker_in_kilns_database(redis_url):
    from web.app import create_app

    settings = Settings(redis_url=redis_url, jwt_secret="x" * 32, broker_db=database(redis_url))
    with pytest.raises(ConfigError, match="KILN_BROKER_DB"):
        create_app(settings)


def test_workers_refuse_a_broker_in_kilns_database(redis_url, tmp_path):
    env = {"HOME": os.environ.get("HOME", "/root"), "PATH": os.environ["PATH"],
           "REDIS_URL": redis_url, "KILN_BROKER_DB": str(database(redis_url)),
           "KILN_LOG_FORMAT": "json", "KILN_SANDBOX_ROOT": str(tmp_path / "sandboxes")}
    done = subprocess.run([sys.executable, "-c", "import actors"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "KILN_BROKER_DB" in done.stderr and "ConfigError" in done.stderr


def test_a_hand_off_across_both_databases_survives_a_restart(tmp_path):
    """The append-only file replays a script's writes into the databases it SELECTed."""
    server = EmbeddedRedis(data_dir=tmp_path / "redis")
    url = server.start()
    store = JobStore(connect(url))
    job = store.create_job("p1", "user-1", "partner", "notes", status=Status.CODE, holder="m1")
    delivery = Delivery(db=BROKER_DB, queue="dramatiq:kiln", messages="dramatiq:kiln.msgs",
                        unacked="dramatiq:__acks__.w1.kiln", send_id="m2", send_data="deps")
    handoff = HandOff(store, SandboxRegistry(store.redis).key)
    res = handoff.next_stage(job.job_id, Status.CODE, "m1", Writes(files={"a.py": "x"}),
                             delivery)
    assert res.outcome == "handed_off"
    store.redis.close()
    server.kill()  # no clean shutdown: what survives is what the append-only file holds
    url = server.start()
    kiln, broker = connect(url), connect(url, db=BROKER_DB)
    try:
        assert kiln.hget(store.keys.job(job.job_id), "next_message") == "m2"
        assert kiln.hgetall(store.keys.files(job.job_id)) == {"a.py": "x"}
        assert broker.lrange("dramatiq:kiln", 0, -1) == ["m2"]
        assert broker.hget("dramatiq:kiln.msgs", "m2") == "deps"
        assert not kiln.exists("dramatiq:kiln") and not broker.exists(store.keys.job(job.job_id))
    finally:
        kiln.close()
        broker.close()
        server.stop()
