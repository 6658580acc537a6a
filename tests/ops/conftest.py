"""Operations tests: bin/replay, worker metrics, logs, shutdown and deployment files. The
`pipeline` fixture (real workers in the test process) is shared with tests/pipeline."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from domain.redis_client import connect
from domain.settings import Settings
from tests.support.pipeline import Pipeline, pipeline  # noqa: F401


def kill_sandboxes(redis_url: str, sandbox_root: Path) -> int:
    """Kill what worker processes left running (a READY build's preview outlives its worker)."""
    from actors.sandbox import get_runtime
    from actors.sandbox.registry import SandboxRegistry

    settings = dataclasses.replace(Settings.from_env(), redis_url=redis_url,
                                   sandbox_root=sandbox_root)
    client = connect(redis_url)
    try:
        runtime = get_runtime(settings, client)
        records = SandboxRegistry(client, settings.redis_prefix).all()
        return sum(1 for record in records if runtime.kill(record.sandbox_id))
    finally:
        client.close()
