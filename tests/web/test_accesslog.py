"""The access line Kiln writes itself (JSON lines): one per request, uvicorn's text, the
request's job context, and no token or secret value."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

from domain import logs
from domain.ids import new_id
from domain.status import Status
from tests.web.conftest import auth, job_at, token
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
