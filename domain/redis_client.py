"""Redis connections: Kiln's own data (strings in, strings out) in REDIS_URL's database, and
Dramatiq's queues in a database of their own on the same server (`KILN_BROKER_DB`).

Two databases, one server: Dramatiq's maintenance runs KEYS over its database when it looks
for dead workers, which must not walk Kiln's jobs, streams and files; and a stage's hand-off
stays one script across the job and the queue (a script may SELECT the other database; Redis
scopes that SELECT to the script). A broker on another server is not supported, so there is
no setting for one.
"""

from __future__ import annotations

import redis

from domain.settings import ConfigError


def database(url: str) -> int:
    """The database a Redis URL names (`redis://host/2`, `unix://path?db=2`; 0 when none)."""
    return int(redis.ConnectionPool.from_url(url).connection_kwargs.get("db") or 0)


def _on_db(client: redis.Redis, db: int | None) -> redis.Redis:
    # Before the first connection: every connection of the pool then SELECTs `db`. (A URL's
    # own database wins over redis-py's `db=` argument, so it is set on the pool instead.)
    if db is not None:
        client.connection_pool.connection_kwargs["db"] = db
    return client


def connect(url: str, db: int | None = None, **kwargs: object) -> redis.Redis:
    """A client of `url` (of database `db` when given: the broker's, for tools and tests)."""
    client = redis.Redis.from_url(url, decode_responses=True, health_check_interval=30, **kwargs)
    return _on_db(client, db)


def connect_bounded(url: str, max_connections: int, wait_s: float = 20.0) -> redis.Redis:
    """A client whose pool holds at most `max_connections`; a thread that finds them all in
    use waits up to `wait_s` for one instead of failing ("Too many connections"), so a worker
    with more threads than connections slows down rather than failing its stages."""
    pool = redis.BlockingConnectionPool.from_url(
        url, decode_responses=True, health_check_interval=30, max_connections=max_connections,
        timeout=wait_s)
    return redis.Redis(connection_pool=pool)


def broker_client(url: str, broker_db: int, max_connections: int | None = None,
                  wait_s: float = 20.0) -> redis.Redis:
    """Dramatiq's client: `url`'s server, database `broker_db`, bytes as Dramatiq reads them.
    With `max_connections`, a bounded pool whose threads wait for a connection (workers: the
    default pool fails the 101st thread sending at once with "Too many connections").
    Refuses a broker database that is Kiln's own (ConfigError)."""
    if broker_db == database(url):
        raise ConfigError(f"KILN_BROKER_DB={broker_db} is the database of REDIS_URL, which holds "
                          "Kiln's data: give Dramatiq's queues a database of their own (the "
                          "default is 1; REDIS_URL normally names 0)")
    if max_connections is None:
        return _on_db(redis.Redis.from_url(url), broker_db)
    pool = redis.BlockingConnectionPool.from_url(url, max_connections=max_connections,
                                                 timeout=wait_s)
    return _on_db(redis.Redis(connection_pool=pool), broker_db)
