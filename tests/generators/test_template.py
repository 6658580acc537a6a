"""The template generator: deterministic, shaped by the goal, offline, a complete app."""

import json
import re
import subprocess
import sys

import pytest

from actors.generators import get_generator
from actors.generators.template import TemplateGenerator, features_for, title_for
from domain.settings import Settings

GOAL = "Build me an app that tracks my todos with due dates & search <b>now</b>"


def test_same_goal_same_files_and_feedback_is_accepted():
    gen = TemplateGenerator()
    first = gen.generate(GOAL, {}, None)
    again = gen.generate(GOAL, {"app.py": "old"}, "FAILED (errors=1)\nTraceback ...")
    assert first == again
    assert gen.generate("a recipe book", {}, None) != first


def test_features_follow_the_goal():
    assert features_for(GOAL) == ["list", "due_dates", "search"]
    assert features_for("a grocery list") == ["list"]
    assert features_for("a landing page for my bakery") == []
    assert title_for(GOAL).startswith("Tracks my todos")
    assert title_for("") == "Your app"


def test_files_follow_kiln_conventions():
    files = TemplateGenerator().generate(GOAL, {}, None)
    manifest = json.loads(files["kiln.json"])
    assert manifest == {"checks": "python3 -m unittest discover -s tests -q",
                        "start": "python3 app.py --port {port}", "health": "/"}
    assert files["requirements.txt"] == ""
    config = json.loads(files["app_config.json"])
    assert config["goal"] == GOAL and config["features"] == ["list", "due_dates", "search"]
    assert "test_due_dates" in files["tests/test_app.py"]
    assert "test_search_filters_items" in files["tests/test_app.py"]
    plain = TemplateGenerator().generate("a landing page for my bakery", {}, None)
    assert "test_add_complete_delete" not in plain["tests/test_app.py"]


@pytest.mark.parametrize("goal", [GOAL, "a landing page for my bakery", "notes\n'''\"\"\"{x}"])
def test_generated_app_passes_its_own_tests(tmp_path, goal):
    for path, text in TemplateGenerator().generate(goal, {}, None).items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    done = subprocess.run([sys.executable, "-m", "unittest", "discover", "-s", "tests", "-v"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert re.search(r"test_page_shows_title_and_goal \(.*\) \.\.\. ok", done.stderr)


def test_get_generator_by_settings():
    assert get_generator(Settings(generator="template")).name == "template"
    assert get_generator(Settings(generator="anthropic")).name == "anthropic"
    with pytest.raises(ValueError):
        get_generator(Settings(generator="nope"))
