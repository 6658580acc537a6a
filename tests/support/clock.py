"""A clock for tests that only moves when told to (domain/clock.py's Clock is the wall clock)."""

from __future__ import annotations

from domain.clock import Clock


class FixedClock(Clock):
    def __init__(self, at: float) -> None:
        self._at = at

    def now(self) -> float:
        return self._at

    def advance(self, seconds: float) -> None:
        self._at += seconds

    def set(self, at: float) -> None:
        self._at = at
