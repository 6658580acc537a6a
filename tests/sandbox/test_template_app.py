"""End to end on real processes: the template app is written into a local sandbox, its own
checks pass there, and its server answers on the preview port with the goal in the page."""

import html
import json

import httpx

from actors.generators.template import TemplateGenerator
from tests.support.waiting import wait_for
from web.preview.targets import fetch

GOAL = "A shopping list where I can add, tick off & delete <items> with due dates"


def _get(upstream: str, path: str = "/") -> tuple[int, str]:
    """GET on the sandbox's preview upstream (its socket, or its loopback port)."""
    try:
        res = fetch(upstream, path, timeout=2)
        return res.status_code, res.text
    except httpx.HTTPError:
        return 0, ""


def test_template_app_checks_and_preview(runtime):
    sb = runtime.create("job-1", {}, 120)
    sb.write_files(TemplateGenerator().generate(GOAL, {}, None))
    manifest = json.loads(sb.read_file("kiln.json"))
    checks = sb.run(manifest["checks"], timeout=60)
    assert checks.ok, checks.output

    port = sb.preview_port()
    sb.start_background(manifest["start"].replace("{port}", str(port)))
    url = sb.preview_url(port)
    status, page = wait_for(lambda: _get(url, manifest["health"])[0] == 200 and _get(url),
                            timeout=15, message="the preview server")
    assert status == 200 and html.escape(GOAL) in page and "<items>" not in page

    added = fetch(url, "/api/items", method="POST", json={"title": "milk"})
    assert added.status_code == 201
    stored = json.loads(sb.read_file("data/items.json"))  # persisted inside the workspace
    assert [item["title"] for item in stored] == ["milk"]

    assert sb.kill() is True
    assert _get(url)[0] == 0  # the preview server died with the sandbox
