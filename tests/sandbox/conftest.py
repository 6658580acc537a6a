"""Local-sandbox fixtures: a runtime per isolation mode (bwrap, plain session) on a temp root,
with the real Redis registry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from actors.sandbox.isolation import Limits
from actors.sandbox.local import LocalRuntime
from actors.sandbox.registry import SandboxRegistry
from tests.sandbox.helpers import MODES


@pytest.fixture
def registry(r: redis.Redis) -> SandboxRegistry:
    return SandboxRegistry(r, prefix="kiln")


@pytest.fixture
def make_runtime(tmp_path: Path, registry: SandboxRegistry) -> Iterator[Callable[..., LocalRuntime]]:
    made: list[LocalRuntime] = []

    def make(mode: str = "session", limits: Limits | None = None) -> LocalRuntime:
        rt = LocalRuntime(tmp_path / "sandboxes", registry, limits or Limits(),
                          use_bwrap=(mode == "bwrap"))
        made.append(rt)
        return rt

    yield make
    for rt in made:  # never leave a test's processes or cgroups behind, whatever it did
        for entry in rt.root.iterdir() if rt.root.is_dir() else []:
            rt.kill(entry.name)  # also directories a test left without their state.json


@pytest.fixture(params=MODES)
def runtime(request: pytest.FixtureRequest, make_runtime: Callable[..., LocalRuntime]) -> LocalRuntime:
    return make_runtime(request.param)

