"""Starting a built app in its sandbox and waiting until it answers: what `checks` does to
finish a build and what a wake does to bring an expired preview back (actors/wake.py)."""

from __future__ import annotations

import time
from collections.abc import Callable

from actors.sandbox.base import Sandbox
from actors.sandbox.probe import PROBE_ERRORS
from actors.workspace import Manifest
from domain.errors import Cancelled, StageFailure
from domain.failures import Reason


class AppDidNotStart(StageFailure):
    """The app's health check never answered 200 within the wait."""

    def __init__(self, url: str) -> None:
        super().__init__(f"the app did not answer 200 at {url} in time", Reason.PREVIEW_FAILED)


def start_app(sandbox: Sandbox, manifest: Manifest, wait_s: float,
              cancelled: Callable[[], bool]) -> str:
    """Start the app's server and wait for its health check; returns the preview's upstream:
    where the web tier finds the app (a contained sandbox's socket when it has one, else its
    URL; users see the stable URL, docs/previews.md)."""
    port = sandbox.preview_port()
    sandbox.start_background(manifest.start_command(port))
    url = sandbox.preview_url(port)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            if sandbox.probe(url.rstrip("/") + manifest.health) == 200:
                endpoint = getattr(sandbox, "preview_endpoint", lambda: None)()
                return endpoint or url
        except PROBE_ERRORS:
            pass
        if cancelled():
            raise Cancelled()
        time.sleep(0.05)  # polling the app's own server until it answers
    raise AppDidNotStart(url)
