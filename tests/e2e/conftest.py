"""End to end through the HTTP API: the web app on a real uvicorn (tests/web/previews.py, with
its preview origin) and real workers in this process with real local sandboxes
(tests/support/pipeline.py), on the test Redis. Every step a user takes goes through HTTP; the
assertions read HTTP answers and the built apps' own previews, served through Kiln."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from domain.settings import Settings
from tests.support.pipeline import Pipeline, pipeline  # noqa: F401
from tests.support.previews import Stack, serve_previews
from tests.support.waiting import wait_for
from tests.web.conftest import auth, web_settings  # noqa: F401

BUILD_TIMEOUT_S = 90


class Kiln:
    """What a user of the API does, in a few calls."""

    def __init__(self, client: httpx.Client, stack: Stack) -> None:
        self.client = client
        self.stack = stack

    def get(self, path: str) -> Any:
        res = self.client.get(path, headers=auth())
        assert res.status_code == 200, res.text
        return res.json()

    def project(self, name: str) -> str:
        res = self.client.post("/api/projects", json={"name": name}, headers=auth())
        assert res.status_code == 201, res.text
        return res.json()["project_id"]

    def build(self, project_id: str, goal: str) -> dict[str, Any]:
        """Start a build and wait until it is READY or FAILED; its final status."""
        res = self.client.post("/api/generation/start",
                               json={"project_id": project_id, "goal": goal}, headers=auth())
        assert res.status_code == 201, res.text
        started = res.json()
        status = wait_for(
            lambda: (s := self.get(f"/api/generation/{started['job_id']}/status"))["status"]
            in ("ready", "failed") and s, BUILD_TIMEOUT_S, interval=0.1,
            message=f"build {started['job_id']} ({goal!r}) to finish")
        assert status["based_on"] == started["based_on"]
        return status

    def decide(self, job_id: str, decision: str) -> None:
        gate = self.client.post(f"/api/generation/{job_id}/preview-viewed", headers=auth())
        assert gate.status_code == 200, gate.text
        res = self.client.post(f"/api/gates/{gate.json()['gate_id']}/resolve",
                               json={"decision": decision}, headers=auth())
        assert res.status_code == 200, res.text

    def versions(self, project_id: str) -> dict[str, Any]:
        return self.get(f"/api/projects/{project_id}/versions")

    def preview(self, status: dict[str, Any], method: str, path: str,
                **kwargs: Any) -> httpx.Response:
        """A request to the build's app at its stable URL, as its owner (bearer token)."""
        url = status["preview_url"]
        assert url.startswith(self.stack.origin + "/preview/"), url
        with self.stack.previews(**auth()) as client:
            return client.request(method, url.removeprefix(self.stack.origin) + path, **kwargs)


def preview_spec(kiln: Kiln, status: dict[str, Any]) -> dict[str, Any]:
    """What the running app says it keeps (its own API, relative to its preview URL)."""
    res = kiln.preview(status, "GET", "api/spec")
    assert res.status_code == 200, res.text
    return res.json()


def field_names(kiln: Kiln, status: dict[str, Any]) -> list[str]:
    return [f["name"] for f in preview_spec(kiln, status)["fields"]]


@pytest.fixture(scope="session")
def preview_stack(web_settings: Settings) -> Iterator[Stack]:  # noqa: F811
    yield from serve_previews(web_settings)


@pytest.fixture
def kiln(preview_stack: Stack, r: Any, pipeline: Pipeline) -> Iterator[Kiln]:  # noqa: F811
    with preview_stack.kiln() as client:
        yield Kiln(client, preview_stack)
