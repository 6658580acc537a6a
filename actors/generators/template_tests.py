"""The generated app's own unittest suite (run by the pipeline's checks stage), assembled from
the parts that match the app's features."""

from __future__ import annotations

HEADER = '''"""Tests of the generated app: a real server on a free loopback port, real HTTP requests."""

import html
import json
import tempfile
import threading
import unittest
import urllib.error
import urllib.request
from pathlib import Path

import app


class AppTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.data = Path(cls.tmp.name) / "items.json"
        cls.server = app.make_server(0, cls.data)
        cls.base = "http://127.0.0.1:%d" % cls.server.server_address[1]
        cls.thread = threading.Thread(target=cls.server.serve_forever, daemon=True)
        cls.thread.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()
        cls.tmp.cleanup()

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def test_page_shows_title_and_goal(self):
        status, body = self.request("GET", "/")
        self.assertEqual(status, 200)
        self.assertIn(html.escape(app.CONFIG["title"]), body)
        self.assertIn(html.escape(app.CONFIG["goal"]), body)

    def test_health(self):
        status, body = self.request("GET", "/api/health")
        self.assertEqual((status, json.loads(body)["ok"]), (200, True))

    def test_unknown_path_is_404(self):
        self.assertEqual(self.request("GET", "/nope")[0], 404)
'''

LIST = '''
    def add(self, title, **extra):
        status, body = self.request("POST", "/api/items", {"title": title, **extra})
        self.assertEqual(status, 201, body)
        return json.loads(body)

    def test_add_complete_delete(self):
        item = self.add("first thing")
        self.assertFalse(item["done"])
        status, body = self.request("PATCH", "/api/items/" + item["id"], {"done": True})
        self.assertEqual((status, json.loads(body)["done"]), (200, True))
        ids = [i["id"] for i in json.loads(self.request("GET", "/api/items")[1])]
        self.assertIn(item["id"], ids)
        self.assertEqual(self.request("DELETE", "/api/items/" + item["id"])[0], 200)
        ids = [i["id"] for i in json.loads(self.request("GET", "/api/items")[1])]
        self.assertNotIn(item["id"], ids)
        self.assertEqual(self.request("DELETE", "/api/items/" + item["id"])[0], 404)

    def test_items_persist_to_the_file(self):
        item = self.add("kept on disk")
        reloaded = app.ItemStore(self.data).list()
        self.assertIn(item["id"], [i["id"] for i in reloaded])

    def test_empty_title_is_refused(self):
        self.assertEqual(self.request("POST", "/api/items", {"title": "  "})[0], 400)
'''

DUE = '''
    def test_due_dates(self):
        item = self.add("pay rent", due="2030-01-31")
        self.assertEqual(item["due"], "2030-01-31")
        status, _ = self.request("POST", "/api/items", {"title": "x", "due": "tomorrow"})
        self.assertEqual(status, 400)
'''

SEARCH = '''
    def test_search_filters_items(self):
        self.add("alpha needle")
        self.add("beta")
        found = json.loads(self.request("GET", "/api/items?q=needle")[1])
        self.assertEqual([i["title"] for i in found], ["alpha needle"])
'''

FOOTER = '''

if __name__ == "__main__":
    unittest.main()
'''


def test_module(features: list[str]) -> str:
    parts = [HEADER]
    if "list" in features:
        parts.append(LIST)
        if "due_dates" in features:
            parts.append(DUE)
        if "search" in features:
            parts.append(SEARCH)
    parts.append(FOOTER)
    return "".join(parts)
