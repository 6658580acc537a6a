"""A package index the test controls: an app's install step fetches from it, so a test can make
the deps stage fail (index down) and then succeed (index back) without touching the code."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from actors.generators.template import TemplateGenerator


class PackageIndex:
    def __init__(self) -> None:
        self.up = False
        self.hits = 0
        index = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                index.hits += 1
                self.send_response(200 if index.up else 503)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/simple/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class InstallsFromIndex(TemplateGenerator):
    """The template app with an install step that needs the index; counts its own calls."""

    name = "installs-from-index"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.calls = 0

    def generate(self, goal, workspace, feedback):
        self.calls += 1
        files = super().generate(goal, workspace, feedback)
        manifest = json.loads(files.get("kiln.json", "{}") or "{}")
        manifest["install"] = ("python3 -c \"import urllib.request as u; "
                               f"u.urlopen('{self.url}', timeout=5)\"")
        files["kiln.json"] = json.dumps(manifest)
        return files
