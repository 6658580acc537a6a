"""The access line Kiln writes itself (JSON lines): one per request, uvicorn's text, the
request's job context, and no token or secret value."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

from domain import logs
from domain.ids import new_id
from domain.status import Status
from tests.support.waiting import wait_for
from tests.support.webproc import web_env, web_process
from tests.web.conftest import SECRET, auth, job_at, token, walk
from web import accesslog


@pytest.fixture
def access_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """What the server writes as log lines, with uvicorn's access logger at INFO."""
    if not logs.writes_json():
        pytest.skip("Kiln writes the access line itself only with JSON lines")
    stream = io.StringIO()
    monkeypatch.setattr(logs, "_line_handler", logging.StreamHandler(stream))
    logger = logging.getLogger(accesslog.LOGGER)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.setLevel(level)


def _lines(stream: io.StringIO, path: str) -> list[dict]:
    # The line is written as the response starts, so it is there once the client has it.
    return [record for record in map(json.loads, stream.getvalue().splitlines())
            if path in record["event"]]


def test_a_status_request_has_one_line_with_its_job(api, store, user_project, access_lines):
    job_id = job_at(store, user_project["project_id"], Status.CODE)
    path = f"/api/generation/{job_id}/status"
    res = api.get(path, headers=auth())
    assert res.status_code == 200
    [line] = _lines(access_lines, path)
    assert line["event"].endswith(f'"GET {path} HTTP/1.1" 200')
    assert line["user_id"] == "user-1" and line["job_id"] == job_id
    assert line["debug_id"] == res.json()["debug_id"]
    assert line["level"] == "info" and line["logger"] == "uvicorn.access"
    assert line["timestamp"].endswith("Z")


def test_tokens_and_secret_values_stay_out_of_the_line(api, monkeypatch, access_lines):
    secret = "sk-access-line-0123456789"
    monkeypatch.setenv("KILN_TEST_API_KEY", secret)
    secret_token = token()
    res = api.get(f"/api/generation/{new_id()}/events?note={secret}&access_token={secret_token}")
    assert res.status_code == 404  # the token is fine, the job is not there
    [line] = _lines(access_lines, "/events")
    assert "access_token=[redacted]" in line["event"] and line["event"].endswith(" 404")
    assert secret_token not in line["event"] and secret not in line["event"]
    assert line["user_id"] == "user-1"


def test_no_line_when_uvicorn_access_logging_is_off(api, access_lines):
    logging.getLogger(accesslog.LOGGER).setLevel(logging.WARNING)  # `--log-level warning`
    assert api.get("/healthz").status_code == 200
    assert access_lines.getvalue() == ""


def test_the_text_is_uvicorns():
    scope = {"type": "http", "client": ("10.0.0.7", 41234), "method": "GET",
             "path": "/api/projects/ü x", "query_string": b"a=1&access_token=t0k",
             "http_version": "1.1"}
    uvicorn_text = '%s - "%s %s HTTP/%s" %d' % (  # noqa: UP031  # uvicorn's own format
        get_client_addr(scope), scope["method"], get_path_with_query_string(scope),
        scope["http_version"], 201)
    assert accesslog.line(scope, 201) == uvicorn_text.replace("t0k", "[redacted]")
    assert accesslog.line({**scope, "client": None}, 201).startswith(' - "GET ')


def test_a_broken_log_stream_does_not_fail_the_request(api, monkeypatch, access_lines):
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr(logs, "_line_handler", logging.StreamHandler(closed))
    assert api.get("/healthz").status_code == 200


@pytest.mark.parametrize(("query", "scrubbed"), [
    ("access_token=t0k", "access_token=[redacted]"),
    ("access%5Ftoken=t0k", "access%5Ftoken=[redacted]"),  # the app decodes the name
    ("access%5ftoken=t0k&x=1", "access%5ftoken=[redacted]&x=1"),
    ("ACCESS_TOKEN=t0k", "ACCESS_TOKEN=[redacted]"),
    ("Access%5FToken=t0k", "Access%5FToken=[redacted]"),
    ("access+token=t0k", "access+token=[redacted]"),
    ("access_token=a&access_token=b", "access_token=[redacted]&access_token=[redacted]"),
    ("x=1&api_key=k&y=2", "x=1&api_key=[redacted]&y=2"),
    ("last_event_id=1-0&page=2", "last_event_id=1-0&page=2"),
    ("access_token=&access_token", "access_token=&access_token"),  # no value, nothing to hide
])
def test_secret_parameters_are_found_by_their_decoded_name(query, scrubbed):
    assert accesslog.scrub_query(query) == scrubbed


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_a_real_servers_log_never_holds_a_query_token(redis_url, store, tmp_path, log_format):
    """The attack: `?access%5Ftoken=<jwt>` authenticates on the events route (Starlette
    decodes the name), and a scrubber that matched the literal name wrote the token to the
    log. Both of Kiln's line formats, from `uvicorn web.app:app` as deployed."""
    project_id = store.create_project("user-1", "Logs")["project_id"]
    job_id = job_at(store, project_id, Status.CHECKS)
    walk(store, job_id, Status.READY)  # its event stream ends after the snapshot
    tokens = [token(ttl_s=3600 + i) for i in range(8)]  # each one distinct
    events, status = f"/api/generation/{job_id}/events", f"/api/generation/{job_id}/status"
    requests = [  # (path with query, expected status)
        (f"{events}?access%5Ftoken={tokens[0]}", 200),
        (f"{events}?access%5ftoken={tokens[1]}&x=1", 200),
        (f"{events}?access_token={tokens[2]}", 200),
        (f"{events}?access_token={tokens[3]}&access_token={tokens[4]}", 200),
        (f"{events}?ACCESS_TOKEN={tokens[5]}", 401),  # not accepted, still not logged
        (f"{events}?Access%5FToken={tokens[6]}", 401),
        (f"{status}?access_token={tokens[7]}", 401),  # only the events route reads it
    ]
    log_path = tmp_path / "web.log"
    env = web_env(REDIS_URL=redis_url, KILN_JWT_SECRET=SECRET, KILN_LOG_FORMAT=log_format)
    with web_process(env, log_path, "--log-level", "info") as url:
        for path, expected in requests:
            assert httpx.get(url + path, timeout=10).status_code == expected, path
        wait_for(lambda: log_path.read_text().count(job_id) >= len(requests), 10,
                 message="an access line per request")
    text = log_path.read_text()
    assert not [t for t in tokens if t in text]
    assert text.count("[redacted]") >= len(tokens)
    assert "access%5Ftoken=[redacted]" in text and "ACCESS_TOKEN=[redacted]" in text
