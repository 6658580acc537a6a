"""The sandbox interface every runtime implements. Stage actors only ever see these types."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from domain.errors import TransientError

# Output kept from one command: the tail, where errors are.
MAX_OUTPUT = 16_000

CancelCheck = Callable[[], bool]


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    output: str  # stdout + stderr interleaved, truncated to MAX_OUTPUT (tail kept)
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


class Sandbox(Protocol):
    id: str
    job_id: str

    def write_files(self, files: dict[str, str]) -> None:
        """Write text files (paths relative to the workspace); refuse paths that escape it."""

    def read_file(self, path: str) -> str: ...

    def list_files(self) -> list[str]:
        """Relative paths of the workspace's files (bounded; skips venvs/node_modules)."""

    def run(self, command: str, cwd: str = ".", env: dict[str, str] | None = None,
            timeout: float = 60.0, cancel_check: CancelCheck | None = None,
            egress: bool = False) -> CommandResult:
        """Run a shell command to completion or timeout. If `cancel_check()` turns true while it
        runs (polled about every 100 ms), the command is killed and `Cancelled` is raised.
        `egress=True`: the command needs the public internet (a dependency install); a runtime
        grants it as its configuration allows (local: KILN_SANDBOX_EGRESS)."""

    def start_background(self, command: str, cwd: str = ".",
                         env: dict[str, str] | None = None) -> str:
        """Start a long-running command (the app's server); returns a handle id."""

    def preview_port(self) -> int:
        """The port the app should listen on for its preview."""

    def preview_url(self, port: int) -> str:
        """Where this host reaches the app on `port`: its upstream (domain/preview.py), what
        the checks stage records. Users see Kiln's stable URL instead (docs/previews.md)."""

    def probe(self, url: str) -> int:
        """The HTTP status of GET `url` on the sandbox's app (its health check); raises one of
        `probe.PROBE_ERRORS` while nothing answers yet."""

    def kill(self) -> bool:
        """End every process of the sandbox and drop it. False when it was already gone."""


class SandboxRuntime(Protocol):
    name: str

    def create(self, job_id: str, metadata: dict[str, str], timeout_s: int) -> Sandbox: ...

    def connect(self, sandbox_id: str) -> Sandbox:
        """Reconnect to a live sandbox; raises `SandboxGone` when it does not exist here."""

    def kill(self, sandbox_id: str) -> bool:
        """Kill by id; harmless (False) for an unknown or already-dead id."""

    def list_live(self) -> list[tuple[str, dict[str, str]]]:
        """Sandboxes the runtime itself knows of, with their metadata (for the reaper)."""


def asks_cancel(cancel_check: CancelCheck) -> bool:
    """One poll of a cancel flag. A check that cannot tell now raises TransientError (a Redis
    blip: StageContext.cancel_poll); that reads as "not cancelled": the next poll, ~100 ms
    later, decides, and the job's own teardown is the backstop. Anything else is a bug and
    propagates (the command is ended on the way out)."""
    try:
        return bool(cancel_check())
    except TransientError:
        return False
