"""Tests of the generated app: a real server on a free loopback port, real HTTP requests. They
read app_spec.json, so every field the app has is exercised with a good and a bad value."""

import html
import json
import tempfile
import threading
import unittest
import urllib.error
import urllib.request
from pathlib import Path

import app

GOOD = {"text": "Sample text", "longtext": "Line one\nline two", "number": 42.5, "rating": 4,
        "date": "2030-01-31", "bool": True, "tags": ["alpha", "beta"]}
BAD = {"text": 7, "longtext": ["x"], "number": "many", "rating": 9, "date": "tomorrow",
       "bool": "yes", "tags": 5}
FIELDS = app.SPEC["fields"]


class AppTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.data = Path(cls.tmp.name) / "items.json"
        cls.server = app.make_server(0, cls.data)
        cls.base = f"http://127.0.0.1:{cls.server.server_address[1]}/"
        cls.thread = threading.Thread(target=cls.server.serve_forever, daemon=True)
        cls.thread.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()
        cls.tmp.cleanup()

    def request(self, method, path, body=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def add(self, **values):
        status, body = self.request("POST", "api/items", {"title": "an item", **values})
        self.assertEqual(status, 201, body)
        return json.loads(body)

    def test_page_shows_title_and_goal_and_uses_relative_urls(self):
        status, body = self.request("GET", "")
        self.assertEqual(status, 200)
        self.assertIn(html.escape(app.SPEC["title"]), body)
        self.assertIn(html.escape(app.SPEC["goal"]), body)
        self.assertIn('"api/items"', body)
        self.assertNotIn('"/api/', body)

    def test_health_and_spec(self):
        status, body = self.request("GET", "api/health")
        self.assertEqual((status, json.loads(body)["ok"]), (200, True))
        spec = json.loads(self.request("GET", "api/spec")[1])
        self.assertEqual(spec["fields"], FIELDS)

    def test_add_read_edit_delete(self):
        values = {f["name"]: GOOD[f["type"]] for f in FIELDS[1:]}
        item = self.add(**values)
        for name, value in values.items():
            self.assertEqual(item[name], value, name)
        self.assertEqual(json.loads(self.request("GET", "api/items/" + item["id"])[1]), item)
        status, body = self.request("PATCH", "api/items/" + item["id"], {"title": "renamed"})
        self.assertEqual((status, json.loads(body)["title"]), (200, "renamed"))
        listed = json.loads(self.request("GET", "api/items")[1])
        self.assertIn("renamed", [i["title"] for i in listed if i["id"] == item["id"]])
        self.assertEqual(self.request("DELETE", "api/items/" + item["id"])[0], 200)
        self.assertEqual(self.request("DELETE", "api/items/" + item["id"])[0], 404)
        self.assertEqual(self.request("GET", "api/items/" + item["id"])[0], 404)

    def test_items_persist_to_the_file(self):
        item = self.add(title="kept on disk")
        reloaded = app.ItemStore(self.data).list()
        self.assertIn(item["id"], [i["id"] for i in reloaded])

    def test_the_main_field_is_required(self):
        for body in ({"title": "  "}, {}):
            self.assertEqual(self.request("POST", "api/items", body)[0], 400)

    def test_each_field_refuses_a_bad_value(self):
        for field in FIELDS:
            status, body = self.request("POST", "api/items",
                                        {"title": "x", field["name"]: BAD[field["type"]]})
            self.assertEqual(status, 400, field)
            self.assertIn(field["label"], json.loads(body)["error"])

    def test_unknown_fields_and_bad_json_are_refused(self):
        self.assertEqual(self.request("POST", "api/items", {"title": "x", "nope": 1})[0], 400)
        self.assertEqual(self.request("POST", "api/items", raw=b"{not json")[0], 400)

    def test_search(self):
        self.add(title="alpha needle")
        self.add(title="beta")
        found = [i["title"] for i in json.loads(self.request("GET", "api/items?q=NEEDLE")[1])]
        if app.SPEC["search"]:
            self.assertEqual(found, ["alpha needle"])
        else:  # search is off: the query is ignored
            self.assertIn("beta", found)

    def test_unknown_path_is_404(self):
        self.assertEqual(self.request("GET", "nope")[0], 404)
        self.assertEqual(self.request("GET", "api/items/a/b")[0], 404)


if __name__ == "__main__":
    unittest.main()
