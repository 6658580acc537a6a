"""GET /api/generation/{job_id}/events: the job's Redis Stream as Server-Sent Events.

A fresh connection gets a `snapshot` (the status body) whose id is the stream's last entry id,
then one event per later entry, each with its stream id as the SSE id. A reconnect with
`Last-Event-ID` gets exactly the entries after that id (204 when the job ended and nothing is
left). The stream ends after a terminal status; a client that goes away just unsubscribes
(see web/hub.py: one shared reader per process, no per-client Redis connection).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Send

from domain.status import TERMINAL
from web import views
from web.auth import authenticate
from web.hub import Entry, id_key, parse_id
from web.state import Kiln, kiln, require_owner

_TERMINAL = {s.value for s in TERMINAL}


def _is_terminal(fields: dict[str, str]) -> bool:
    return fields.get("type", "status") == "status" and fields.get("status") in _TERMINAL


_RENDERED: OrderedDict[tuple[str, str, str], bytes] = OrderedDict()
_RENDERED_MAX = 4096


def _sse(k: Kiln, job_id: str, entry: Entry) -> bytes:
    """One stream entry as SSE bytes, encoded once however many clients watch the job."""
    key = (job_id, entry[0], k.previews.origin)
    encoded = _RENDERED.get(key)
    if encoded is None:
        stream_id, fields = entry
        encoded = ServerSentEvent(data=json.dumps(views.event(fields, job_id, k.previews)),
                                  event=fields.get("type", "status"), id=stream_id).encode()
        _RENDERED[key] = encoded
        if len(_RENDERED) > _RENDERED_MAX:
            _RENDERED.popitem(last=False)
    return encoded


async def _read(k: Kiln, job_id: str, resume: str | None
                ) -> tuple[dict[str, str], str, list[Entry]]:
    """Atomically: the job, its stream's last id, and (resuming) the first entry after
    `resume`: enough to check ownership, build the snapshot, or see that nothing is left."""
    key = k.keys.events(job_id)
    async with k.aredis.pipeline(transaction=True) as pipe:
        pipe.hgetall(k.keys.job(job_id))
        pipe.xrevrange(key, count=1)
        if resume is not None:
            pipe.xrange(key, min=f"({resume}", count=1)
        raw, last, *after = await pipe.execute()
    return raw, (last[0][0] if last else "0-0"), (after[0] if after else [])


async def _stream(k: Kiln, job: dict[str, str], cursor: str, snapshot: bool
                  ) -> AsyncIterator[ServerSentEvent | bytes]:
    job_id = job["job_id"]
    if snapshot:
        yield ServerSentEvent(data=json.dumps(views.job_status(job, previews=k.previews)),
                              event="snapshot", id=cursor)
        if job["status"] in _TERMINAL:
            return
    key = k.keys.events(job_id)
    sub = await k.hub.subscribe(key, cursor)
    try:
        if id_key(sub.start) > id_key(cursor):
            # The shared reader already passed these entries before we joined.
            for entry in await k.aredis.xrange(key, min=f"({cursor}", max=sub.start):
                yield _sse(k, job_id, entry)
                cursor = entry[0]
                if _is_terminal(entry[1]):
                    return
        while True:
            batch = await sub.get()
            if batch is None:
                return  # this client fell too far behind: it resumes from its last id
            for entry in batch:
                if id_key(entry[0]) <= id_key(cursor):
                    continue  # already sent from the backlog
                yield _sse(k, job_id, entry)
                cursor = entry[0]
                if _is_terminal(entry[1]):
                    return
    finally:
        k.hub.unsubscribe(sub)


class _EventStream(EventSourceResponse):
    """sse-starlette wraps every send in a timeout cancel scope, about half of the cost of
    fanning one event out to a thousand clients. Ours sends directly; a client that stops
    reading is bounded instead by the hub (its queue overflows and the stream ends; it
    resumes with Last-Event-ID). A private method of sse-starlette 3.7 (pinned): its code and
    its callers are watched by tests/unit/test_upstream.py."""

    async def _send_with_timeout(self, send: Send, message: Message) -> None:
        await send(message)


async def job_events(request: Request) -> Response:
    k = kiln(request)
    principal = authenticate(request, k.settings.jwt_secret, allow_query=True)
    resume = parse_id(request.headers.get("last-event-id")
                      or request.query_params.get("last_event_id"))
    raw, last, after = await _read(k, request.path_params["job_id"], resume)
    job = require_owner(raw, principal.user_id)
    if resume is not None and id_key(resume) > id_key(last):
        resume = None  # an id this job never had: start over with a snapshot
    if resume is not None and job["status"] in _TERMINAL and not after:
        # Resumed after the end: 204 tells a browser's EventSource to stop reconnecting.
        return Response(status_code=204)
    cursor = resume if resume is not None else last
    return _EventStream(_stream(k, job, cursor, snapshot=resume is None), ping=k.sse_ping_s)
