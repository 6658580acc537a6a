"""A sandbox runtime and a generator that do nothing, so a benchmark measures Kiln itself:
every stage still enters with its one Redis round trip, runs its (empty) work and sends the
next message. Workers load them with KILN_SANDBOX / KILN_GENERATOR = "bin.support.bench.noop:…".

The no-op app is up at once: the checks stage's health probe answers 200 without a request.
"""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

from actors.sandbox.base import CancelCheck, CommandResult


class NoopSandbox:
    def __init__(self, sandbox_id: str, job_id: str = "") -> None:
        self.id = sandbox_id
        self.job_id = job_id

    def write_files(self, files: dict[str, str]) -> None:
        return None

    def read_file(self, path: str) -> str:
        return ""

    def list_files(self) -> list[str]:
        return []

    def run(self, command: str, cwd: str = ".", env: dict[str, str] | None = None,
            timeout: float = 60.0, cancel_check: CancelCheck | None = None,
            egress: bool = False) -> CommandResult:
        return CommandResult(0, "")

    def start_background(self, command: str, cwd: str = ".",
                         env: dict[str, str] | None = None) -> str:
        return "noop"

    def preview_port(self) -> int:
        return 0

    def preview_url(self, port: int) -> str:
        return "http://127.0.0.1:9/"

    def probe(self, url: str) -> int:
        return 200

    def kill(self) -> bool:
        return True


class NoopRuntime:
    name = "noop"

    def __init__(self, settings: Any = None, registry: Any = None) -> None:
        self.settings = settings

    def create(self, job_id: str, metadata: dict[str, str], timeout_s: int) -> NoopSandbox:
        return NoopSandbox(uuid.uuid4().hex, job_id)

    def connect(self, sandbox_id: str) -> NoopSandbox:
        return NoopSandbox(sandbox_id)

    def kill(self, sandbox_id: str) -> bool:
        return False

    def list_live(self) -> list[tuple[str, dict[str, str]]]:
        return []


class NoopGenerator:
    name = "noop"

    def generate(self, goal: str, workspace: dict[str, str],
                 feedback: str | None) -> dict[str, str]:
        return {"kiln.json": '{"checks": "true", "start": "true", "health": "/"}'}


class LongInstall:
    """The template app with an install step that runs for minutes (and leaves a `setsid`
    grandchild): the cancel benchmark cancels mid-command. Each build's sleeps carry a unique
    fraction, so the benchmark can find their processes in /proc."""

    name = "long-install"

    def __init__(self) -> None:
        from actors.generators.template import TemplateGenerator

        self.template = TemplateGenerator()

    def generate(self, goal: str, workspace: dict[str, str],
                 feedback: str | None) -> dict[str, str]:
        files = self.template.generate(goal, workspace, feedback)
        manifest = json.loads(files.get("kiln.json") or "{}")
        marker = f"{random.randrange(10**6):06d}"
        manifest["install"] = f"setsid sleep 600.{marker} & sleep 300.{marker}"
        files["kiln.json"] = json.dumps(manifest)
        return files
