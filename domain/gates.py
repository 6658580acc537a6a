"""Gates: decision points a project reaches. After a user has seen a READY build's preview, the
project's solidification gate asks what comes next; while it is pending no new build starts."""

from __future__ import annotations

from enum import StrEnum


class GateType(StrEnum):
    SOLIDIFICATION = "solidification"


class GateStatus(StrEnum):
    PENDING = "pending"
    RESOLVED = "resolved"


class GateDecision(StrEnum):
    ITERATE = "iterate"  # keep building on this version
    SOLIDIFY = "solidify"  # make this version the foundation
    ABANDON = "abandon"  # drop this direction


GATE_PROMPT = "You've seen your MVP. Ready to decide what's next?"
