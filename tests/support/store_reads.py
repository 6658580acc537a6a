"""What the job store wrote, read back for assertions. Kiln itself reads these only inside its
Lua scripts, the SSE reader (web/sse.py) and the cancel watch (actors/cancel_watch.py)."""

from __future__ import annotations

from domain.store import JobStore


def history(store: JobStore, job_id: str) -> list[tuple[str, dict[str, str]]]:
    """The job's event stream, oldest first: (event id, fields)."""
    return store.redis.xrange(store.keys.events(job_id))


def cancel_flag(store: JobStore, job_id: str) -> bool:
    """Whether the job's cancel flag (what running stages poll) is set."""
    return bool(store.redis.exists(store.keys.cancel(job_id)))
