"""Fixtures of the preview tests (helpers in tests/support/previews.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from actors.sandbox.local import LocalRuntime
from domain.settings import Settings
from tests.support.pipeline import pipeline  # noqa: F401 (real workers: test_wake.py)
from tests.support.previews import SandboxApp, Stack, serve_previews, start_app
from tests.web.conftest import SECRET


@pytest.fixture(scope="module")
def stack(redis_url: str) -> Iterator[Stack]:
    settings = Settings(redis_url=redis_url, jwt_secret=SECRET, log_format="json",
                        preview_max_body_bytes=4 * 1024 * 1024)
    yield from serve_previews(settings)


@pytest.fixture(scope="module")
def sandbox_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxApp]:
    """One app for the module (no registry: Redis is flushed between tests)."""
    runtime = LocalRuntime(tmp_path_factory.mktemp("preview-sandboxes"))
    app = start_app(runtime)
    try:
        yield app
    finally:
        app.sandbox.kill()
