"""Redis going away under a stage (a restart, a failover): the stage waits for it and runs again.

A lost connection is not the build's failure: failing the job would need Redis too, and a
failure that escapes the actor leaves the job at its stage until the watchdog's deadline while
the message goes to the dead-letter queue. So a stage that hits one waits until Redis answers
(redis-py's own retries cover only blips of a second or two), then lets Dramatiq's Retries
re-run the message, whose enqueue now succeeds; the same message id resumes the stage.
"""

from __future__ import annotations

import time

import redis

from domain.errors import TransientError
from domain.logs import get_logger

log = get_logger("kiln.outage")

# BusyLoadingError (Redis loading its append-only file) is a ConnectionError.
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)
MAX_OUTAGE_RETRIES = 10  # Redis down through 10 backed-off waits: let the watchdog decide


def wait_for_redis(client: redis.Redis, timeout_s: float = 60.0) -> bool:
    """Block until Redis answers PING (True) or `timeout_s` passes (False)."""
    deadline = time.monotonic() + timeout_s
    delay = 0.1
    while time.monotonic() < deadline:
        try:
            if client.ping():
                return True
        except REDIS_DOWN:
            pass
        time.sleep(delay)  # polling an unreachable server: nothing to wait on but time
        delay = min(delay * 2, 2.0)
    return False


def retry_when(retries: int, exc: BaseException) -> bool:
    """Dramatiq's retry decision for stage actors: transient errors (bounded by the stage
    itself) and lost Redis connections (bounded here)."""
    if isinstance(exc, TransientError):
        return True
    return isinstance(exc, REDIS_DOWN) and retries < MAX_OUTAGE_RETRIES


def on_redis_down(client: redis.Redis, exc: BaseException) -> None:
    log.warning("stage.redis_down", error=str(exc))
    back = wait_for_redis(client)
    log.info("stage.redis_back" if back else "stage.redis_still_down")
