"""The template generator: deterministic, offline, a complete app derived from any goal, and
change requests applied to a version's app."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from actors.generators import get_generator
from actors.generators.base import BaseVersion
from actors.generators.template import SOURCES, TemplateGenerator
from actors.generators.template_spec import SPEC_FILE, apply_change, derive, title_for
from domain.errors import GeneratorOutputError
from domain.settings import Settings

GOAL = "Build me an app that tracks my todos with due dates & search <b>now</b>"
NASTY = ["notes\n'''\"\"\"{x}", "a {list} of {goal}s {title} %s %(x)s ${x} </script><!--TITLE-->",
         "<img src=x onerror=alert(1)> recipes \\u0000 `rm -rf /` ' OR 1=1 --"]


def spec_of(files: dict[str, str]) -> dict:
    return json.loads(files[SPEC_FILE])


def fields_of(files: dict[str, str]) -> dict[str, str]:
    return {f["name"]: f["type"] for f in spec_of(files)["fields"]}


def base(files: dict[str, str], version: str = "build_v0_1") -> BaseVersion:
    return BaseVersion(version, "job-1", "goal", files)


def run_app_tests(tmp_path: Path, files: dict[str, str]) -> subprocess.CompletedProcess:
    for path, text in files.items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return subprocess.run([sys.executable, "-m", "unittest", "discover", "-s", "tests", "-v"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)


def test_same_goal_same_files_whatever_the_workspace_and_feedback():
    gen = TemplateGenerator()
    first = gen.generate(GOAL, {}, None)
    again = gen.generate(GOAL, {"app.py": "old"}, "FAILED (errors=1)\nTraceback ...")
    assert first == again
    assert gen.generate("a recipe book", {}, None) != first


@pytest.mark.parametrize("goal, plural, fields", [
    ("a recipe box with tags and search", "recipes",
     {"title": "text", "ingredients": "longtext", "tags": "tags"}),
    ("keep track of the books I read, with ratings", "books",
     {"title": "text", "author": "text", "rating": "rating"}),
    ("log my workouts with dates and minutes", "workouts",
     {"title": "text", "date": "date", "minutes": "number"}),
    (GOAL, "tasks", {"title": "text", "done": "bool", "due": "date"}),
    ("a plant tracker", "plants", {"title": "text"}),
    ("a list of my vinyl records", "records", {"title": "text"}),
    ("notes with tags", "notes", {"title": "text", "body": "longtext", "tags": "tags"}),
    ("a landing page for my bakery", "items", {"title": "text"}),
])
def test_the_collection_and_its_fields_come_from_the_goals_words(goal, plural, fields):
    spec = derive(goal)
    assert spec["collection"]["plural"] == plural
    assert {f["name"]: f["type"] for f in spec["fields"]} == fields
    assert spec["fields"][0]["required"] and spec["search"] is True and spec["goal"] == goal


def test_words_match_whole_words_only():
    # "update" holds "date", "separate" holds "rate", "ticket" holds "tick".
    spec = derive("an app to update separate ideas")
    assert [f["name"] for f in spec["fields"]] == ["title"]


def test_title_is_the_goal_without_its_lead():
    assert title_for(GOAL).startswith("Tracks my todos")
    assert title_for("") == "Your app"


def test_files_follow_kiln_conventions():
    files = TemplateGenerator().generate(GOAL, {}, None)
    manifest = json.loads(files["kiln.json"])
    assert manifest == {"checks": "python3 -m unittest discover -s tests -q",
                        "start": "python3 app.py --port {port}", "health": "/"}
    assert files["requirements.txt"] == "" and files["tests/__init__.py"] == ""
    assert files["app.py"] == SOURCES["app.py"]  # the goal lives in the spec, not the code
    assert "Due date (date)" in files["README.md"]


def test_the_page_uses_relative_urls():
    page = SOURCES["page.html"]
    assert '"api/items"' in page and '"api/spec"' in page
    assert not re.search(r"""["'`]/(api|static)""", page)


@pytest.mark.parametrize("goal", [GOAL, "a landing page for my bakery", *NASTY])
def test_generated_app_passes_its_own_tests(tmp_path, goal):
    files = TemplateGenerator().generate(goal, {}, None)
    done = run_app_tests(tmp_path, files)
    assert done.returncode == 0, done.stderr
    assert re.search(r"test_page_shows_title_and_goal_and_uses_relative_urls \(.*\) \.\.\. ok",
                     done.stderr)
    assert spec_of(files)["goal"] == goal.strip()  # kept as text, whatever it holds


@pytest.mark.parametrize("change, notes, fields, search", [
    ("add tags", ["added Tags"], ["title", "ingredients", "tags"], True),
    ("add ratings and due dates", ["added Rating", "added Due date"],
     ["title", "ingredients", "rating", "due"], True),
    ("remove the ingredients, add notes", ["removed Ingredients", "added Notes"],
     ["title", "notes"], True),
    ("without search", ["search off"], ["title", "ingredients"], False),
    ("make it searchable", ["search already on"], ["title", "ingredients"], True),
    ("make it blue", [], ["title", "ingredients"], True),
])
def test_change_requests_edit_the_spec(change, notes, fields, search):
    spec, done = apply_change(derive("a recipe box"), change)
    assert done == notes
    assert [f["name"] for f in spec["fields"]] == fields and spec["search"] is search
    assert spec["changes"][-1] == {"request": change, "notes": notes}


def test_rename_keeps_the_text_as_it_is():
    spec, done = apply_change(derive("a recipe box"), 'rename it to "Grandma\'s {Box}"')
    assert spec["title"] == "Grandma's {Box}" and done == ["renamed to Grandma's {Box}"]


def test_a_line_of_changes_keeps_every_earlier_feature(tmp_path):
    gen = TemplateGenerator()
    v1 = gen.generate("a recipe box", {}, None)
    v2 = gen.generate("add tags", v1, None, base=base(v1))
    v3 = gen.generate("add ratings, make it searchable", v2, None, base=base(v2, "build_v0_2"))
    assert list(fields_of(v1)) == ["title", "ingredients"]
    assert list(fields_of(v2)) == ["title", "ingredients", "tags"]
    assert list(fields_of(v3)) == ["title", "ingredients", "tags", "rating"]
    assert [c["request"] for c in spec_of(v3)["changes"]] == ["add tags",
                                                              "add ratings, make it searchable"]
    assert spec_of(v3)["goal"] == "a recipe box"
    v4 = gen.generate("remove tags", v3, None, base=base(v3, "build_v0_3"))
    assert list(fields_of(v4)) == ["title", "ingredients", "rating"]
    done = run_app_tests(tmp_path, v4)
    assert done.returncode == 0, done.stderr
    assert "not understood" in gen.generate("make it blue", v4, None, base=base(v4))["README.md"]


def test_a_base_the_template_did_not_make_is_a_clear_error():
    foreign = {"main.js": "console.log(1)", "kiln.json": "{}"}
    with pytest.raises(GeneratorOutputError, match="cannot change build_v0_1"):
        TemplateGenerator().generate("add tags", foreign, None, base=base(foreign))
    broken = {SPEC_FILE: json.dumps({"title": "x", "fields": [{"name": "../x"}]})}
    with pytest.raises(GeneratorOutputError):
        TemplateGenerator().generate("add tags", broken, None, base=base(broken))


def test_a_version_made_before_specs_is_read_from_its_goal():
    legacy = {"app_config.json": json.dumps({"title": "T", "goal": "a todo list",
                                             "features": ["list"]})}
    files = TemplateGenerator().generate("add tags", legacy, None, base=base(legacy))
    assert list(fields_of(files)) == ["title", "done", "tags"]


def test_get_generator_by_settings():
    assert get_generator(Settings(generator="template")).name == "template"
    assert get_generator(Settings(generator="anthropic")).name == "anthropic"
    with pytest.raises(ValueError):
        get_generator(Settings(generator="nope"))
