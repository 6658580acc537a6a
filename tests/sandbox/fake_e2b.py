"""A fake of the E2B SDK's `Sandbox` class, with the surface Kiln uses (checked against e2b 2.x:
`Sandbox.create(template, timeout, metadata, envs)`, `Sandbox.connect(id)`, `Sandbox.kill(id)`,
`Sandbox.set_timeout(id, timeout)`, `Sandbox.list(query=)` paginator, and per instance `files`,
`commands.run(cmd, background, envs, cwd, timeout)` handles, `get_host`, `kill`, `set_timeout`).

It exists because E2B's cloud cannot be reached from Kiln's test machines: the adapter is
tested against this fake, which raises the SDK's real exception classes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import e2b


@dataclass
class Script:
    """How the fake answers: per-call errors and per-command results."""

    raise_on: dict[str, BaseException] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)  # cmd -> (exit, out, err) | exception
    calls: list[tuple] = field(default_factory=list)


@dataclass
class Cloud:
    boxes: dict[str, Any] = field(default_factory=dict)
    script: Script = field(default_factory=Script)


CLOUD = Cloud()  # the fake E2B control plane's state


class FakeHandle:
    def __init__(self, pid: int, outcome: Any) -> None:
        self.pid = pid
        self._outcome = outcome
        self.killed = threading.Event()

    def wait(self) -> Any:
        if self._outcome is None:  # a command that runs until killed
            self.killed.wait(30)
            raise e2b.CommandExitException(stdout="", stderr="killed", exit_code=137, error=None)
        if isinstance(self._outcome, BaseException):
            raise self._outcome
        code, out, err = self._outcome
        if code != 0:
            raise e2b.CommandExitException(stdout=out, stderr=err, exit_code=code, error=None)
        return e2b.CommandResult(stdout=out, stderr=err, exit_code=0, error=None)

    def kill(self) -> bool:
        self.killed.set()
        return True


class FakeFiles:
    def __init__(self, box: FakeSandbox) -> None:
        self.box = box
        self.data: dict[str, str] = {}
        self.dirs: set[str] = set()

    def write(self, path: str, data: str) -> None:
        self.box.check("files.write", path)
        self.data[path] = data

    def read(self, path: str) -> str:
        self.box.check("files.read", path)
        if path not in self.data:
            raise e2b.FileNotFoundException(f"{path} not found")
        return self.data[path]

    def make_dir(self, path: str) -> bool:
        self.box.check("files.make_dir", path)
        self.dirs.add(path)
        return True


class FakeCommands:
    def __init__(self, box: FakeSandbox) -> None:
        self.box = box
        self.handles: list[FakeHandle] = []

    def run(self, cmd: str, background: bool | None = None, envs: dict | None = None,
            cwd: str | None = None, timeout: float | None = 60) -> Any:
        self.box.check("commands.run", cmd, background, envs, cwd, timeout)
        outcome = CLOUD.script.results.get(cmd, (0, f"ran {cmd}\n", ""))
        handle = FakeHandle(1000 + len(self.handles), outcome)
        self.handles.append(handle)
        return handle if background else handle.wait()


class FakeSandbox:
    """Class-level methods act on the fake cloud (`boxes`); instances are connected sandboxes."""

    def __init__(self, sandbox_id: str, metadata: dict[str, str]) -> None:
        self.sandbox_id = sandbox_id
        self.metadata = metadata
        self.files = FakeFiles(self)
        self.commands = FakeCommands(self)
        self.timeout: int | None = None

    @staticmethod
    def reset(script: Script) -> None:
        CLOUD.boxes = {}
        CLOUD.script = script

    def check(self, name: str, *args: Any) -> None:
        FakeSandbox._check(name, *args)

    @classmethod
    def _check(cls, name: str, *args: Any) -> None:
        CLOUD.script.calls.append((name, *args))
        if name in CLOUD.script.raise_on:
            raise CLOUD.script.raise_on[name]

    @classmethod
    def create(cls, template: str | None = None, timeout: int | None = None,
               metadata: dict | None = None, envs: dict | None = None) -> FakeSandbox:
        cls._check("create", template, timeout, metadata, envs)
        box = FakeSandbox(f"sbx{len(CLOUD.boxes) + 1}", dict(metadata or {}))
        box.timeout = timeout
        CLOUD.boxes[box.sandbox_id] = box
        return box

    @classmethod
    def connect(cls, sandbox_id: str) -> FakeSandbox:
        cls._check("connect", sandbox_id)
        if sandbox_id not in CLOUD.boxes:
            raise e2b.SandboxNotFoundException(f"sandbox {sandbox_id} not found")
        return CLOUD.boxes[sandbox_id]

    @classmethod
    def _kill_id(cls, sandbox_id: str) -> bool:
        cls._check("kill", sandbox_id)
        return CLOUD.boxes.pop(sandbox_id, None) is not None

    @classmethod
    def set_timeout(cls, sandbox_id: str, timeout: int) -> None:
        cls._check("set_timeout", sandbox_id, timeout)
        if sandbox_id not in CLOUD.boxes:
            raise e2b.SandboxNotFoundException(sandbox_id)
        CLOUD.boxes[sandbox_id].timeout = timeout

    @classmethod
    def list(cls, query: Any = None) -> FakePaginator:
        cls._check("list", query)
        infos = [box for box in CLOUD.boxes.values()
                 if all(box.metadata.get(k) == v for k, v in (query.metadata or {}).items())]
        return FakePaginator(infos)

    def get_host(self, port: int) -> str:
        return f"{port}-{self.sandbox_id}.e2b.app"

    def kill(self) -> bool:  # the instance form; the SDK's class form is routed below
        return FakeSandbox._kill_id(self.sandbox_id)


class FakePaginator:
    """Two pages, to prove the adapter walks them all."""

    def __init__(self, items: list[Any]) -> None:
        half = len(items) // 2
        self._pages = [items[:half], items[half:]]

    @property
    def has_next(self) -> bool:
        return bool(self._pages)

    def next_items(self) -> list[Any]:
        return self._pages.pop(0)


class FakeSDK(FakeSandbox):
    """What the adapter receives as the SDK class: `FakeSDK.kill(id)` is the class-level kill,
    as `e2b.Sandbox.kill(sandbox_id)` is in the real SDK."""

    @classmethod
    def kill(cls, sandbox_id: str) -> bool:  # type: ignore[override]
        return FakeSandbox._kill_id(sandbox_id)
