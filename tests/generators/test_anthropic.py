"""The anthropic generator against a fake of the Anthropic Messages API: a local HTTP server on
127.0.0.1 that answers POST /v1/messages in the API's shape (the real API is unreachable from
Kiln's test machines). The official SDK talks to it through `base_url`."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from actors.generators.anthropic import SYSTEM, TOOL, AnthropicGenerator
from actors.generators.base import BaseVersion
from actors.sandbox.local import LocalRuntime
from domain.errors import GeneratorOutputError, PermanentError, TransientError

KILN_JSON = json.dumps({"checks": "python3 -m unittest -q", "start": "python3 app.py --port {port}",
                        "health": "/"})
GOOD = [{"path": "app.py", "content": "print('app')\n"},
        {"path": "tests/test_app.py", "content": "import unittest\n"},
        {"path": "kiln.json", "content": KILN_JSON}]


class FakeMessagesAPI:
    """Serves queued answers: (status, JSON body). Records every request it got."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self.requests: list[dict[str, Any]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                api.requests.append({"path": self.path, "body": body,
                                     "api_key": _key(self.headers)})
                status, answer = api.answers.pop(0) if api.answers else (500, _error("api_error"))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()


def _key(headers: Any) -> str | None:
    """The API key as sent: `x-api-key`, or `Authorization: Bearer` (newer SDKs)."""
    bearer = headers.get("Authorization") or ""
    return headers.get("x-api-key") or (bearer[7:] if bearer.startswith("Bearer ") else None)


def _message(content: list[dict[str, Any]], stop: str = "tool_use") -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
            "content": content, "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 20}}


def _tool(files: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": "toolu_1", "name": TOOL["name"], "input": {"files": files}}


def _error(kind: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": "fake"}}


@pytest.fixture
def api() -> Iterator[FakeMessagesAPI]:
    fake = FakeMessagesAPI()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def gen(api: FakeMessagesAPI) -> AnthropicGenerator:
    return AnthropicGenerator(model="claude-test", api_key="sk-ant-test-key", base_url=api.url,
                              max_retries=0, timeout_s=10)


def test_good_answer_becomes_files_and_feedback_reaches_the_model(api, gen):
    api.answers.append((200, _message([{"type": "text", "text": "here"}, _tool(GOOD)])))
    files = gen.generate("a todo app", {"kiln.json": KILN_JSON}, "FAILED: test_add (AssertionError)")
    assert files == {f["path"]: f["content"] for f in GOOD}
    sent = api.requests[0]
    assert sent["path"] == "/v1/messages" and sent["api_key"] == "sk-ant-test-key"
    body = sent["body"]
    assert body["model"] == "claude-test"
    assert body["tool_choice"] == {"type": "tool", "name": "write_files"}
    assert body["tools"][0]["input_schema"]["required"] == ["files"]
    prompt = body["messages"][0]["content"]
    assert "a todo app" in prompt and "FAILED: test_add (AssertionError)" in prompt
    assert "--- kiln.json" in prompt


def test_the_system_prompt_asks_for_relative_urls(api, gen):
    api.answers.append((200, _message([_tool(GOOD)])))
    gen.generate("a todo app", {}, None)
    system = api.requests[0]["body"]["system"]
    assert system == SYSTEM and 'fetch("api/items"), not fetch("/api/items")' in system


def test_a_change_sends_the_base_files_cached_and_the_request_after_them(api, gen):
    base_files = {f["path"]: f["content"] for f in GOOD} | {"README.md": "# Todo\n"}
    base = BaseVersion("build_v0_2", "job-2", "a todo app", base_files)
    edit = [{"path": "app.py", "content": "print('app with due dates')\n"}]
    api.answers += [(200, _message([_tool(edit)])), (200, _message([_tool(edit)]))]

    files = gen.generate("add due dates", dict(base_files), None, base=base)
    assert files == {"app.py": "print('app with due dates')\n"}  # kiln.json is the base's
    workspace = base_files | files  # the fix loop: the first attempt's edit is in the sandbox
    gen.generate("add due dates", workspace, "FAILED: test_due (AssertionError)", base=base)

    first, fix = (r["body"]["messages"][0]["content"] for r in api.requests)
    cached, change = first
    assert cached["cache_control"] == {"type": "ephemeral"}
    assert "build_v0_2" in cached["text"] and "a todo app" in cached["text"]
    for path, text in base_files.items():
        assert f"--- {path}\n{text}" in cached["text"]
    assert "cache_control" not in change
    assert "add due dates" in change["text"] and "--- README.md" not in change["text"]
    # Every attempt sends the base block byte for byte (the cache hits); what changed follows.
    assert fix[0] == cached
    assert "FAILED: test_due (AssertionError)" in fix[1]["text"]
    assert "--- app.py\nprint('app with due dates')" in fix[1]["text"]
    assert "--- README.md" not in fix[1]["text"]


@pytest.mark.parametrize("answer", [
    _message([{"type": "text", "text": "I think you should..."}], stop="end_turn"),
    _message([_tool("not a list")]),
    _message([_tool([{"path": "../../etc/cron.d/x", "content": "x"}] + GOOD)]),
    _message([_tool([{"path": "/abs.py", "content": "x"}] + GOOD)]),
    _message([_tool([{"path": "app.py", "content": "x" * 300_000}] + GOOD[1:])]),
    _message([_tool([{"path": "app.py"}] + GOOD[1:])]),
    _message([_tool(GOOD[:2])]),  # no kiln.json anywhere
    _message([_tool(GOOD)], stop="max_tokens"),
])
def test_malformed_answer_is_a_clear_error_and_nothing_is_written(api, gen, tmp_path, answer):
    sandbox = LocalRuntime(tmp_path, use_bwrap=False).create("job-1", {}, 60)
    api.answers.append((200, answer))
    with pytest.raises(GeneratorOutputError):
        sandbox.write_files(gen.generate("a todo app", {}, None))  # the CODE stage's shape
    assert sandbox.list_files() == []
    sandbox.kill()


@pytest.mark.parametrize("status, kind, expected", [
    (429, "rate_limit_error", TransientError),
    (500, "api_error", TransientError),
    (529, "overloaded_error", TransientError),
    (401, "authentication_error", PermanentError),
    (400, "invalid_request_error", PermanentError),
])
def test_api_errors_map_to_transient_or_permanent(api, gen, status, kind, expected):
    api.answers.append((status, _error(kind)))
    with pytest.raises(expected) as caught:
        gen.generate("a todo app", {}, None)
    if expected is PermanentError:
        assert not isinstance(caught.value, TransientError)
    assert "sk-ant-test-key" not in str(caught.value)


def test_unreachable_api_is_transient_and_missing_key_is_permanent(monkeypatch):
    down = AnthropicGenerator(model="m", api_key="k", base_url="http://127.0.0.1:9",
                              max_retries=0, timeout_s=2)
    with pytest.raises(TransientError):
        down.generate("x", {}, None)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(PermanentError):
        AnthropicGenerator(model="m").generate("x", {}, None)
