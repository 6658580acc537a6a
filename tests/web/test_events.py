"""Live events over SSE: snapshot first, every transition in order with stream ids as SSE ids,
resume with Last-Event-ID without gaps or repeats, the end after a terminal status, pings, and
nothing left subscribed after a client goes away."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from domain.ids import new_id
from domain.status import Status
from tests.support.store_reads import history
from tests.support.waiting import wait_for
from tests.web.conftest import auth, job_at, token, walk

S = Status
FIX_LOOP = [S.STARTING, S.SCAFFOLD, S.CODE, S.DEPS, S.CHECKS, S.SCAFFOLD, S.CODE, S.DEPS,
            S.CHECKS, S.READY]


@dataclass
class Client:
    """An SSE client on its own thread: collects events until the stream ends or `stop`."""

    url: str
    headers: dict[str, str]
    stop: Callable[[list[dict[str, Any]]], bool] = lambda _events: False
    events: list[dict[str, Any]] = field(default_factory=list)
    pings: int = 0
    status: int | None = None
    ended: bool = False  # the server closed the stream

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        timeout = httpx.Timeout(10, read=20)
        with httpx.Client(timeout=timeout) as client, client.stream(
                "GET", self.url, headers=self.headers) as res:
            self.status = res.status_code
            if res.status_code != 200:
                res.read()
                return
            event: dict[str, Any] = {}
            for line in res.iter_lines():
                if line.startswith(":"):
                    self.pings += 1
                elif line:
                    name, _, value = line.partition(":")
                    event[name] = value.removeprefix(" ")
                elif event:
                    event["data"] = json.loads(event.get("data", "null"))
                    self.events.append(event)
                    event = {}
                    if self.stop(self.events):
                        return  # leaving the block closes the connection
            self.ended = True

    def join(self) -> None:
        self.thread.join(15)
        assert not self.thread.is_alive(), "the SSE stream did not end"


def _url(live, job_id: str) -> str:
    return f"{live.url}/api/generation/{job_id}/events"


def test_every_transition_in_order(api, live, store, user_project):
    job_id = job_at(store, user_project["project_id"], S.QUEUED)
    client = Client(_url(live, job_id), auth())
    wait_for(lambda: client.events)
    walk(store, job_id, *FIX_LOOP)
    client.join()
    snapshot, *rest = client.events
    assert client.ended and snapshot["event"] == "snapshot"
    assert snapshot["data"]["status"] == "queued" and snapshot["data"]["job_id"] == job_id
    assert [e["data"]["status"] for e in rest] == [s.value for s in FIX_LOOP]
    stream = history(store, job_id)
    assert snapshot["id"] == stream[0][0]
    assert [e["id"] for e in rest] == [entry_id for entry_id, _ in stream[1:]]
    assert rest[-1]["data"]["build_version"] == "build_v0_1"
    assert rest[-1]["data"]["stage_label"] == "Build complete!"


def test_reconnect_with_last_event_id_gets_only_missed(api, live, store, user_project):
    job_id = job_at(store, user_project["project_id"], S.QUEUED)
    first = Client(_url(live, job_id), auth(), stop=lambda events: len(events) == 3)
    wait_for(lambda: first.events)
    walk(store, job_id, S.STARTING, S.SCAFFOLD)
    first.join()
    assert not first.ended
    wait_for(lambda: live.kiln.hub.subscriber_count() == 0)  # nothing left behind
    walk(store, job_id, S.CODE, S.DEPS, S.CHECKS)  # while disconnected
    last_id = first.events[-1]["id"]
    second = Client(_url(live, job_id), {**auth(), "Last-Event-ID": last_id})
    wait_for(lambda: len(second.events) == 3)
    walk(store, job_id, S.FAILED)
    second.join()
    seen = [e["data"]["status"] for e in first.events[1:] + second.events]
    assert seen == ["starting", "scaffold", "code", "deps", "checks", "failed"]
    assert all(e["event"] == "status" for e in second.events)
    assert [e["id"] for e in first.events[1:] + second.events] == [
        entry_id for entry_id, _ in history(store, job_id)[1:]]


def test_late_joiner_gets_what_the_shared_reader_already_passed(api, live, store,
                                                               user_project):
    job_id = job_at(store, user_project["project_id"], S.QUEUED)
    early = Client(_url(live, job_id), auth())
    wait_for(lambda: early.events)
    walk(store, job_id, S.STARTING, S.SCAFFOLD, S.CODE)
    wait_for(lambda: len(early.events) == 4)  # the reader is now past all three
    first_id = history(store, job_id)[0][0]
    late = Client(_url(live, job_id), {**auth(), "Last-Event-ID": first_id})
    wait_for(lambda: len(late.events) == 3)
    walk(store, job_id, S.DEPS, S.FAILED)
    early.join()
    late.join()
    assert [e["id"] for e in late.events] == [e["id"] for e in early.events[1:]]
    assert [e["data"]["status"] for e in late.events] == [
        "starting", "scaffold", "code", "deps", "failed"]


def test_terminal_job_gets_snapshot_and_end(api, live, store, user_project):
    job_id = job_at(store, user_project["project_id"], S.CHECKS)
    walk(store, job_id, S.READY)
    client = Client(_url(live, job_id), auth())
    client.join()
    assert [e["event"] for e in client.events] == ["snapshot"] and client.ended
    # The browser's automatic reconnect after the end gets 204, which stops EventSource.
    last = history(store, job_id)[-1][0]
    resumed = api.get(f"/api/generation/{job_id}/events",
                      headers={**auth(), "Last-Event-ID": last})
    assert resumed.status_code == 204


def test_many_subscribers_share_one_reader(api, live, store, user_project):
    job_id = job_at(store, user_project["project_id"], S.QUEUED)
    clients = [Client(_url(live, job_id), auth()) for _ in range(25)]
    wait_for(lambda: live.kiln.hub.subscriber_count() == 25)
    walk(store, job_id, S.STARTING, S.SCAFFOLD, S.CODE, S.FAILED)
    for client in clients:
        client.join()
        assert [e["data"]["status"] for e in client.events[1:]] == [
            "starting", "scaffold", "code", "failed"]
    wait_for(lambda: live.kiln.hub.subscriber_count() == 0)


def test_pings_and_query_token(api, live, store, user_project):
    job_id = job_at(store, user_project["project_id"], S.CODE)
    client = Client(f"{_url(live, job_id)}?access_token={token()}", {})
    wait_for(lambda: client.pings >= 1, timeout=5)  # the session server pings every second
    walk(store, job_id, S.FAILED)
    client.join()
    assert client.status == 200 and client.events[-1]["data"]["status"] == "failed"


def test_query_token_is_not_logged(api, live, store, user_project, caplog):
    job_id = job_at(store, user_project["project_id"], S.READY)
    secret_token = token()
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        client = Client(f"{_url(live, job_id)}?access_token={secret_token}", {})
        client.join()
        wait_for(lambda: any("/events" in r.getMessage() for r in caplog.records))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "access_token=[redacted]" in logged and secret_token not in logged


def test_unknown_or_bogus_last_event_id_starts_over(api, live, store, user_project):
    job_id = job_at(store, user_project["project_id"], S.CHECKS)
    walk(store, job_id, S.READY)
    for bogus in ("not-an-id", "18446744073709551615-0", "99999999999999999999-0"):
        client = Client(_url(live, job_id), {**auth(), "Last-Event-ID": bogus})
        client.join()
        assert client.status == 200 and [e["event"] for e in client.events] == ["snapshot"]


def test_events_404_for_other_user(api, live, store, user_project):
    job_id = job_at(store, user_project["project_id"], S.CODE)
    theirs = api.get(f"/api/generation/{job_id}/events", headers=auth("eve"))
    missing = api.get(f"/api/generation/{new_id()}/events", headers=auth("eve"))
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
