"""Generators for pipeline tests: the template generator with a twist. They are importable by
worker processes too (KILN_GENERATOR=tests.support.generators:SlowInstall)."""

from __future__ import annotations

import json
import random
import threading

from actors.generators.template import TemplateGenerator
from tests.support.procfs import read_all

BROKEN_TEST = """import unittest


class Broken(unittest.TestCase):
    def test_feature(self):
        self.assertEqual({value!r}, "fixed", "feature not implemented yet")
"""


class FirstAnswerBroken(TemplateGenerator):
    """The first answer fails its own test; given feedback, the fix passes."""

    name = "first-answer-broken"

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str | None] = []

    def generate(self, goal, workspace, feedback):
        self.calls.append(feedback)
        files = super().generate(goal, workspace, feedback)
        value = "fixed" if feedback else "broken"
        files["tests/test_broken.py"] = BROKEN_TEST.format(value=value)
        return files


class AlwaysBroken(TemplateGenerator):
    """Fails every time, differently each time (so only the budget stops it)."""

    name = "always-broken"

    def __init__(self, same_failure: bool = False) -> None:
        super().__init__()
        self.same_failure = same_failure
        self.count = 0
        self._lock = threading.Lock()

    def generate(self, goal, workspace, feedback):
        with self._lock:
            self.count += 1
            value = "broken" if self.same_failure else f"broken attempt {self.count}"
        files = super().generate(goal, workspace, feedback)
        files["tests/test_broken.py"] = BROKEN_TEST.format(value=value)
        return files


class SlowInstall(TemplateGenerator):
    """An app whose install step takes a while and leaves a setsid grandchild. Its sleeps carry
    a unique fraction so a test can find their host pids in /proc (`install_pids`)."""

    name = "slow-install"
    seconds = 30

    def __init__(self) -> None:
        super().__init__()
        self.marker = f"{random.randrange(10**6):06d}"

    def generate(self, goal, workspace, feedback):
        files = super().generate(goal, workspace, feedback)
        manifest = json.loads(files.get("kiln.json", "{}") or "{}")
        manifest["install"] = (f"setsid sleep {self.seconds + 60}.{self.marker} & "
                               f"sleep {self.seconds}.{self.marker}")
        files["kiln.json"] = json.dumps(manifest)
        return files

    def install_pids(self) -> list[int]:
        marker = self.marker.encode()
        return [pid for pid, cmdline in read_all("cmdline")
                if (argv := cmdline.split(b"\0"))[:1] == [b"sleep"] and argv[1:2]
                and argv[1].endswith(marker)]


class ShortInstall(SlowInstall):
    """A few seconds of install: long enough to kill a worker in the middle of it."""

    name = "short-install"
    seconds = 4


class BreaksOnRequest(TemplateGenerator):
    """The template generator, except that a goal or change request containing "[break]" gets
    an app whose own test fails, the same way every time: the build fails at checks after
    the code stage stored its files (a failed iteration)."""

    name = "breaks-on-request"
    MARK = "[break]"

    def generate(self, goal, workspace, feedback, *, base=None):
        files = super().generate(goal, workspace, feedback, base=base)
        if self.MARK in goal:
            files["tests/test_broken.py"] = BROKEN_TEST.format(value="broken")
        return files
