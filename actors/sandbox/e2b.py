"""The E2B sandbox runtime (`KILN_SANDBOX=e2b`, `E2B_API_KEY`): sandboxes in E2B's cloud, so any
worker on any host can reconnect to them. The SDK class is injectable (tests use a fake with the
SDK's surface: the cloud is not reachable from Kiln's test machines)."""

from __future__ import annotations

import os
import shlex
import threading
import time
from typing import Any

import e2b

from domain.errors import Cancelled, KilnError, SandboxGone
from domain.logs import get_logger

from .base import MAX_OUTPUT, CancelCheck, CommandResult, asks_cancel
from .e2b_errors import mapped
from .paths import MAX_LISTED, SKIP_DIRS, remote_path
from .probe import http_status
from .registry import SandboxRecord, SandboxRegistry

log = get_logger("kiln.sandbox")
WORKDIR = "/home/user/app"
PREVIEW_PORT = 8000  # each E2B sandbox has its own network: a fixed port is free
_KILN_META = {"kiln": "1"}


class E2BSandbox:
    def __init__(self, sdk_sandbox: Any, job_id: str, registry: SandboxRegistry | None) -> None:
        self._sbx = sdk_sandbox
        self.id: str = sdk_sandbox.sandbox_id
        self.job_id = job_id
        self._registry = registry

    def write_files(self, files: dict[str, str]) -> None:
        targets = {remote_path(WORKDIR, rel): text for rel, text in files.items()}  # all or none
        for path, text in targets.items():
            with mapped("files.write"):
                self._sbx.files.write(path, text)

    def read_file(self, path: str) -> str:
        with mapped(f"files.read {path}"):
            return self._sbx.files.read(remote_path(WORKDIR, path))

    def list_files(self) -> list[str]:
        prune = " -o ".join(f"-name {shlex.quote(d)}" for d in sorted(SKIP_DIRS))
        cmd = f"find . \\( {prune} \\) -prune -o -type f -print | head -n {MAX_LISTED}"
        result = self.run(cmd, timeout=30)
        return sorted(line[2:] for line in result.output.splitlines() if line.startswith("./"))

    def run(self, command: str, cwd: str = ".", env: dict[str, str] | None = None,
            timeout: float = 60.0, cancel_check: CancelCheck | None = None,
            egress: bool = False) -> CommandResult:  # E2B's own network policy applies
        started = time.monotonic()
        with mapped("commands.run"):
            handle = self._sbx.commands.run(command, background=True, envs=dict(env or {}),
                                            cwd=remote_path(WORKDIR, cwd), timeout=timeout)
        outcome: dict[str, Any] = {}
        waiter = threading.Thread(target=_wait, args=(handle, outcome), daemon=True)
        waiter.start()
        # E2B ends the command itself after `timeout`; the grace covers a lost stream.
        deadline = started + timeout + 5.0
        while waiter.is_alive():
            waiter.join(0.1)
            if not waiter.is_alive():
                break
            if cancel_check is not None and asks_cancel(cancel_check):
                _kill_quietly(handle)
                raise Cancelled(f"command cancelled in sandbox {self.id}")
            if time.monotonic() > deadline:
                _kill_quietly(handle)
                outcome = {"timed_out": True}
                break
        if "error" in outcome:
            with mapped("commands.wait"):
                raise outcome["error"]
        output = (outcome.get("stdout") or "") + (outcome.get("stderr") or "")
        return CommandResult(exit_code=int(outcome.get("exit_code", -1)),
                             output=output[-MAX_OUTPUT:], timed_out=bool(outcome.get("timed_out")))

    def start_background(self, command: str, cwd: str = ".",
                         env: dict[str, str] | None = None) -> str:
        with mapped("commands.run background"):
            handle = self._sbx.commands.run(command, background=True, envs=dict(env or {}),
                                            cwd=remote_path(WORKDIR, cwd), timeout=0)
        return str(handle.pid)

    def preview_port(self) -> int:
        return PREVIEW_PORT

    def preview_url(self, port: int) -> str:
        return f"https://{self._sbx.get_host(int(port))}"

    def probe(self, url: str) -> int:
        return http_status(url)

    def extend(self, timeout_s: int) -> None:
        with mapped("set_timeout"):
            self._sbx.set_timeout(int(timeout_s))

    def kill(self) -> bool:
        try:
            with mapped("kill"):
                killed = bool(self._sbx.kill())
        except SandboxGone:
            killed = False
        if self._registry is not None:
            self._registry.remove(self.id)
        return killed


def _wait(handle: Any, outcome: dict[str, Any]) -> None:
    """Wait for a command on a helper thread so the caller can poll its cancel flag."""
    try:
        res = handle.wait()
        outcome.update(stdout=res.stdout, stderr=res.stderr, exit_code=res.exit_code)
    except e2b.CommandExitException as exc:  # a non-zero exit is a result, not an error
        outcome.update(stdout=exc.stdout, stderr=exc.stderr, exit_code=exc.exit_code)
    except e2b.TimeoutException as exc:
        if isinstance(exc, e2b.exceptions.SandboxNotRunningException):
            outcome["error"] = exc
        else:
            outcome.update(timed_out=True, exit_code=-1, stderr="command timed out")
    except Exception as exc:  # any error: handed to the caller's thread, which raises it
        outcome["error"] = exc


def _kill_quietly(handle: Any) -> None:
    try:
        with mapped("commands.kill"):
            handle.kill()
    except (KilnError, e2b.NotFoundException) as exc:  # teardown's kill is the backstop
        log.warning("sandbox_command_kill_failed", error=type(exc).__name__)


class E2BRuntime:
    name = "e2b"

    def __init__(self, registry: SandboxRegistry | None = None, sdk: Any = None,
                 template: str | None = None) -> None:
        self._sdk = sdk or e2b.Sandbox
        self.registry = registry
        self.template = template or os.environ.get("KILN_E2B_TEMPLATE") or None

    def create(self, job_id: str, metadata: dict[str, str], timeout_s: int) -> E2BSandbox:
        meta = {str(k): str(v) for k, v in metadata.items()} | _KILN_META | {"job_id": job_id}
        with mapped("create"):
            sbx = self._sdk.create(template=self.template, timeout=int(timeout_s),
                                   metadata=meta, envs={})
        now = time.time()
        if self.registry is not None:  # registered first: a failure below leaves no orphan
            self.registry.register(SandboxRecord(
                sandbox_id=sbx.sandbox_id, job_id=job_id, runtime=self.name, host="e2b",
                created_at=now, expires_at=now + timeout_s))
        with mapped("files.make_dir"):
            sbx.files.make_dir(WORKDIR)  # commands run there; files.write alone would not make it
        log.info("sandbox_created", sandbox_id=sbx.sandbox_id, job_id=job_id, runtime="e2b")
        return E2BSandbox(sbx, job_id, self.registry)

    def connect(self, sandbox_id: str) -> E2BSandbox:
        with mapped("connect"):
            sbx = self._sdk.connect(sandbox_id)
        record = self.registry.get(sandbox_id) if self.registry is not None else None
        return E2BSandbox(sbx, record.job_id if record else "", self.registry)

    def kill(self, sandbox_id: str) -> bool:
        try:
            with mapped("kill"):
                killed = bool(self._sdk.kill(sandbox_id))
        except SandboxGone:
            killed = False
        if self.registry is not None:
            self.registry.remove(sandbox_id)
        return killed

    def extend(self, sandbox_id: str, expires_at: float) -> None:
        with mapped("set_timeout"):
            self._sdk.set_timeout(sandbox_id, max(1, int(expires_at - time.time())))
        if self.registry is not None:
            self.registry.extend(sandbox_id, expires_at)

    def list_live(self) -> list[tuple[str, dict[str, str]]]:
        with mapped("list"):
            pages = self._sdk.list(query=e2b.SandboxQuery(metadata=dict(_KILN_META)))
            items: list[Any] = []
            while pages.has_next:
                items.extend(pages.next_items())
        return [(info.sandbox_id, dict(info.metadata or {})) for info in items]
