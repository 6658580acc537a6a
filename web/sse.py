"""GET /api/generation/{job_id}/events: the job's Redis Stream as Server-Sent Events.

A fresh connection gets a `snapshot` (the status body) whose id is the stream's last entry id,
then one event per later entry, each with its stream id as the SSE id. A reconnect with
`Last-Event-ID` gets exactly the entries after that id. The stream ends after a terminal
status; a client that goes away just unsubscribes (the shared reader keeps no per-client state).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request

from domain.job import Job
from domain.status import TERMINAL
from web import views
from web.auth import authenticate
from web.hub import Entry, id_key, parse_id
from web.state import Kiln, kiln, owned_job

_TERMINAL = {s.value for s in TERMINAL}


def _is_terminal(fields: dict[str, str]) -> bool:
    return fields.get("type", "status") == "status" and fields.get("status") in _TERMINAL


def _sse(entry: Entry) -> ServerSentEvent:
    stream_id, fields = entry
    return ServerSentEvent(data=json.dumps(views.event(fields)),
                           event=fields.get("type", "status"), id=stream_id)


async def _snapshot(k: Kiln, job_id: str) -> tuple[Job | None, str]:
    """The job and the id of the last entry it reflects, read atomically."""
    async with k.aredis.pipeline(transaction=True) as pipe:
        pipe.hgetall(k.keys.job(job_id))
        pipe.xrevrange(k.keys.events(job_id), count=1)
        raw, last = await pipe.execute()
    return (Job.from_redis(raw) if raw else None), (last[0][0] if last else "0-0")


async def _stream(k: Kiln, job_id: str, resume: str | None) -> AsyncIterator[ServerSentEvent]:
    cursor = resume
    if cursor is None:
        job, cursor = await _snapshot(k, job_id)
        if job is None:
            return
        yield ServerSentEvent(data=json.dumps(views.job_status(job)), event="snapshot",
                              id=cursor)
        if job.terminal:
            return
    key = k.keys.events(job_id)
    sub = await k.hub.subscribe(key, cursor)
    try:
        # Catch up on what happened before the shared reader saw this stream.
        async with k.aredis.pipeline(transaction=True) as pipe:
            pipe.hget(k.keys.job(job_id), "status")
            pipe.xrange(key, min=f"({cursor}")
            status, backlog = await pipe.execute()
        for entry in backlog:
            yield _sse(entry)
            cursor = entry[0]
            if _is_terminal(entry[1]):
                return
        if status is None or status in _TERMINAL:
            return  # resumed after the end: nothing more will come
        while True:
            for entry in await sub.get():
                if id_key(entry[0]) <= id_key(cursor):
                    continue  # already sent from the backlog
                yield _sse(entry)
                cursor = entry[0]
                if _is_terminal(entry[1]):
                    return
    finally:
        k.hub.unsubscribe(sub)


async def job_events(request: Request) -> EventSourceResponse:
    k = kiln(request)
    principal = authenticate(request, k.settings.jwt_secret, allow_query=True)
    job_id = request.path_params["job_id"]
    await owned_job(k, job_id, principal.user_id)
    resume = parse_id(request.headers.get("last-event-id")
                      or request.query_params.get("last_event_id"))
    return EventSourceResponse(_stream(k, job_id, resume), ping=k.sse_ping_s,
                               send_timeout=30)
