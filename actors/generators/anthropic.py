"""The Anthropic generator (`KILN_GENERATOR=anthropic`, `ANTHROPIC_API_KEY`, model from
`KILN_ANTHROPIC_MODEL`, endpoint overridable with `ANTHROPIC_BASE_URL`).

The model must answer through one tool, `write_files`, whose JSON schema is the file list, so
the answer is structured rather than scraped from prose. In the fix loop the last check failure
goes back to the model as feedback.

A build on a version (`base`) sends that version's files as the first block of the request,
marked for prompt caching (`cache_control`): they are the same for every attempt of the build
(and for every build on that version), and the change request, the previous attempt's edits
and the feedback follow in a block of their own.
"""

from __future__ import annotations

import os
from typing import Any

import anthropic

from domain.errors import GeneratorOutputError, PermanentError, TransientError
from domain.logs import get_logger

from .base import BaseVersion
from .validate import MAX_FILES, validate_files

log = get_logger("kiln.generator")

TOOL = {
    "name": "write_files",
    "description": "Write the complete set of files of the app (each path relative to the "
                   "project root; every file you list replaces the existing one).",
    "input_schema": {
        "type": "object",
        "properties": {
            "files": {
                "type": "array", "maxItems": MAX_FILES,
                "items": {"type": "object", "required": ["path", "content"],
                          "properties": {"path": {"type": "string"},
                                         "content": {"type": "string"}}},
            },
        },
        "required": ["files"],
    },
}

SYSTEM = """You write small, complete, runnable web apps for Kiln, which runs them offline in a
sandbox. Answer only by calling the write_files tool. Rules:
- Prefer the Python standard library (http.server); list pip dependencies in requirements.txt
  (may be empty), or npm ones in package.json.
- Include the app's own tests and a kiln.json: {"checks": "<test command>", "start": "<serve
  command containing {port}>", "health": "/"}. The server must listen on 127.0.0.1:{port}.
- The page at / must show what the app is for. File paths are relative; no '..'.
- The app is served under a path prefix: its page must use relative URLs for its own API and
  assets (fetch("api/items"), not fetch("/api/items"); src="app.js", not src="/app.js").
- When you are given an existing app and a change request, change only what the request asks,
  keep every existing feature, and list only the files you add or change (each complete)."""

MAX_FEEDBACK = 8_000
MAX_SNAPSHOT = 60_000


def _listing(files: dict[str, str], budget: int) -> list[str]:
    shown = []
    for path in sorted(files):
        text = files[path]
        if len(text) > budget:
            shown.append(f"--- {path} (omitted, {len(text)} chars)")
            continue
        budget -= len(text)
        shown.append(f"--- {path}\n{text}")
    return shown


def _feedback(feedback: str | None) -> list[str]:
    if not feedback:
        return []
    return ["The previous version failed its checks. Fix it. Check output (tail):\n"
            + feedback[-MAX_FEEDBACK:]]


def build_prompt(goal: str, workspace: dict[str, str], feedback: str | None) -> str:
    """A fresh build's request: the goal, what the workspace holds, the feedback."""
    parts = [f"Goal:\n{goal.strip()}"]
    shown = _listing(workspace, MAX_SNAPSHOT)
    if shown:
        parts.append("Current files:\n" + "\n".join(shown))
    return "\n\n".join(parts + _feedback(feedback))


def change_blocks(change: str, workspace: dict[str, str], feedback: str | None,
                  base: BaseVersion) -> list[dict[str, Any]]:
    """A build on a version: the version's files (cached: identical for every attempt), then
    the change request, the files the previous attempt changed, and the feedback."""
    version = (f"The app as it is now, {base.build_version}. It was asked:\n{base.goal.strip()}"
               "\n\nIts files:\n" + "\n".join(_listing(base.files, MAX_SNAPSHOT)))
    parts = [f"Change request:\n{change.strip()}\n\nApply it to the app above. List only "
             "the files you add or change, each complete; the others stay as they are."]
    edited = {path: text for path, text in workspace.items() if base.files.get(path) != text}
    if feedback and edited:
        parts.append("Your previous attempt left these files changed:\n"
                     + "\n".join(_listing(edited, MAX_SNAPSHOT)))
    return [{"type": "text", "text": version, "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "\n\n".join(parts + _feedback(feedback))}]


def translate(exc: anthropic.AnthropicError) -> Exception:
    """Transient (retry later) or permanent, by the API's answer. The detail names the class
    and status only: SDK messages can echo request data."""
    if isinstance(exc, anthropic.APIConnectionError):  # includes APITimeoutError
        return TransientError(f"anthropic unreachable: {type(exc).__name__}")
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        if status in (408, 429) or status >= 500:
            return TransientError(f"anthropic busy (HTTP {status})")
        return PermanentError(f"anthropic refused the request (HTTP {status})")
    if isinstance(exc, anthropic.CredentialsError):
        return PermanentError(f"anthropic credentials: {type(exc).__name__}")
    return TransientError(f"anthropic error: {type(exc).__name__}")


class AnthropicGenerator:
    name = "anthropic"

    def __init__(self, model: str, api_key: str | None = None, base_url: str | None = None,
                 max_tokens: int = 16_000, timeout_s: float = 300.0, max_retries: int = 2,
                 client: Any = None) -> None:
        self.model = model
        self.max_tokens = max_tokens
        self._client = client
        self._opts = {"api_key": api_key or os.environ.get("ANTHROPIC_API_KEY"),
                      "base_url": base_url or os.environ.get("ANTHROPIC_BASE_URL") or None,
                      "timeout": timeout_s, "max_retries": max_retries}

    def _get_client(self) -> Any:
        if self._client is None:
            if not self._opts["api_key"]:
                raise PermanentError("ANTHROPIC_API_KEY is not set")
            self._client = anthropic.Anthropic(**self._opts)
        return self._client

    def generate(self, goal: str, workspace: dict[str, str], feedback: str | None, *,
                 base: BaseVersion | None = None) -> dict[str, str]:
        client = self._get_client()
        content: str | list[dict[str, Any]] = (
            build_prompt(goal, workspace, feedback) if base is None
            else change_blocks(goal, workspace, feedback, base))
        try:
            message = client.messages.create(
                model=self.model, max_tokens=self.max_tokens, system=SYSTEM, tools=[TOOL],
                tool_choice={"type": "tool", "name": TOOL["name"]},
                messages=[{"role": "user", "content": content}])
        except anthropic.AnthropicError as exc:
            raise translate(exc) from exc
        files = validate_files(_tool_files(message), workspace)
        log.info("generator_answer", generator=self.name, files=len(files),
                 fix=feedback is not None, base=base.build_version if base else None,
                 cached_tokens=getattr(getattr(message, "usage", None),
                                       "cache_read_input_tokens", None))
        return files


def _tool_files(message: Any) -> Any:
    if getattr(message, "stop_reason", None) == "max_tokens":
        raise GeneratorOutputError("the answer was cut off (max_tokens)")
    for block in getattr(message, "content", None) or []:
        if getattr(block, "type", None) == "tool_use" and block.name == TOOL["name"]:
            data = block.input
            if not isinstance(data, dict):
                raise GeneratorOutputError("the write_files input is not an object")
            return data.get("files")
    raise GeneratorOutputError("the answer did not call write_files")
