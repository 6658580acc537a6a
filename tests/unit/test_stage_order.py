"""Where each stage hands the job, derived from the state machine (domain/status.py): the next
stage, and from the last stage either READY or the fix loop back to its start, one iteration
on. The Lua entry script gets the same edge (domain/store.py's prelude)."""

from __future__ import annotations

from domain.status import (
    FIX_LOOP_TO,
    LAST_STAGE,
    STAGES,
    TRANSITIONS,
    Status,
    handed_to,
)
from domain.store import _lua_prelude


def test_the_last_stage_and_the_fix_loop_come_from_the_transitions():
    assert LAST_STAGE == STAGES[-1] == Status.CHECKS
    assert FIX_LOOP_TO == Status.SCAFFOLD and FIX_LOOP_TO in TRANSITIONS[LAST_STAGE]
    assert Status.READY in TRANSITIONS[LAST_STAGE]


def test_each_stage_hands_to_the_next_and_the_last_to_the_fix_loop():
    assert [handed_to(s, 2) for s in STAGES[:-1]] == [(s, 2) for s in STAGES[1:]]
    assert handed_to(LAST_STAGE, 2) == (FIX_LOOP_TO, 3)


def test_the_scripts_know_the_same_edge():
    assert "local LAST_STAGE, FIX_LOOP_TO = 'checks', 'scaffold'" in _lua_prelude()
