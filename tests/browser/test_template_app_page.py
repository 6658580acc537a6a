"""The template generator's app in a real browser, served under a path prefix the way previews
are (`/preview/<job_id>/...`, here by a small reverse proxy in this test): its page draws the
form from the spec and lists, adds, edits, searches and deletes through relative URLs only."""

from __future__ import annotations

import http.client
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from actors.generators.template import TemplateGenerator
from tests.support.waiting import wait_for

from .conftest import free_port

pytestmark = pytest.mark.browser
PREFIX = "/preview/job-1/"
GOAL = "a reading list of books with ratings, tags and due dates <b>soon</b>"


class PrefixProxy:
    """Forwards PREFIX... to the app at its root; anything else is a 404 (and remembered)."""

    def __init__(self, app_port: int) -> None:
        self.paths: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                proxy.paths.append(self.path)
                if not self.path.startswith(PREFIX):
                    self.send_error(404)
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                conn = http.client.HTTPConnection("127.0.0.1", app_port, timeout=10)
                conn.request(self.command, "/" + self.path[len(PREFIX):], body or None,
                             {"Content-Type": self.headers.get("Content-Type", "")})
                answer = conn.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.getheader("Content-Type", ""))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PATCH = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def app_behind_prefix(tmp_path: Path) -> Iterator[PrefixProxy]:
    for path, text in TemplateGenerator().generate(GOAL, {}, None).items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    port = free_port()
    app = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=tmp_path,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proxy = PrefixProxy(port)
    try:
        wait_for(lambda: _up(f"{proxy.url}{PREFIX}api/health"), 15, message="the app")
        yield proxy
    finally:
        proxy.server.shutdown()
        proxy.server.server_close()
        app.terminate()
        app.wait(10)


def _up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_generated_page_works_under_a_path_prefix(app_behind_prefix, page_factory) -> None:
    proxy = app_behind_prefix
    page = page_factory(1280, 900)
    page.goto(f"{proxy.url}{PREFIX}")
    expect(page.locator(".goal")).to_have_text(GOAL)  # markup in a goal is text
    expect(page.get_by_label("Rating")).to_be_visible()

    page.get_by_label("Title").fill("Dune")
    page.get_by_label("Author").fill("Frank Herbert")
    page.get_by_label("Rating").select_option("4")
    page.get_by_label("Tags").fill("scifi, classic")
    page.get_by_label("Due date").fill("2030-01-31")
    page.get_by_role("button", name="Add book").click()
    item = page.locator("#items li").filter(has_text="Dune")
    expect(item).to_contain_text("#scifi #classic")
    expect(item).to_contain_text("Rating: ★★★★")
    expect(item).to_contain_text("Due date: 2030-01-31")

    page.get_by_label("Title").fill("Emma")
    page.get_by_role("button", name="Add book").click()
    expect(page.locator("#items li")).to_have_count(2)

    item.get_by_role("button", name="Edit").click()
    expect(page.get_by_label("Author")).to_have_value("Frank Herbert")
    page.get_by_label("Title").fill("Dune Messiah")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#items li").filter(has_text="Dune Messiah")).to_contain_text("#scifi")

    page.get_by_label("Title").fill("   ")  # the server says what is wrong
    page.get_by_role("button", name="Add book").click()
    expect(page.get_by_role("alert")).to_have_text("Title is required")

    page.get_by_role("searchbox", name="Search").fill("messiah")
    expect(page.locator("#items li")).to_have_count(1)
    page.get_by_role("searchbox", name="Search").fill("")
    expect(page.locator("#items li")).to_have_count(2)

    page.reload()  # persisted by the app
    expect(page.locator("#items li")).to_have_count(2)
    page.locator("#items li").filter(has_text="Emma").get_by_role("button", name="Delete").click()
    expect(page.locator("#items li")).to_have_count(1)

    assert proxy.paths and all(p.startswith(PREFIX) for p in proxy.paths), proxy.paths
    assert page.kiln_errors == []
