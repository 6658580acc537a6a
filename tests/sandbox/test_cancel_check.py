"""A sandbox command's cancel check (actors/sandbox/base.py: asks_cancel): a check that cannot
tell now (TransientError, what a Redis blip becomes) reads as "not cancelled" and the command
runs on; any other error is a bug, not swallowed: it ends the call and the command with it."""

from __future__ import annotations

import pytest

from domain.errors import TransientError
from tests.sandbox.helpers import alive, pids_running


def test_a_check_that_cannot_tell_now_lets_the_command_finish(make_runtime):
    sb = make_runtime("session").create("job-1", {}, 60)
    polls = []

    def blip() -> bool:
        polls.append(1)
        raise TransientError("the cancel flag cannot be read now")

    res = sb.run("sleep 0.5; echo done", timeout=10, cancel_check=blip)
    assert res.ok and res.output == "done\n" and polls


def test_a_broken_check_is_raised_and_ends_the_command(make_runtime):
    sb = make_runtime("session").create("job-1", {}, 60)

    def broken() -> bool:
        raise RuntimeError("a bug in the check")

    with pytest.raises(RuntimeError, match="a bug in the check"):
        sb.run("sleep 7781", timeout=30, cancel_check=broken)
    assert not [p for p in pids_running(["sleep", "7781"]) if alive(p)]
