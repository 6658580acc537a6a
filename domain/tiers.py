"""Subscription tiers and their limits (DESIGN.md, capacity table). Every number is configurable
through `KILN_TIER_<TIER>_<FIELD>` environment variables, e.g. `KILN_TIER_PARTNER_DAILY_JOBS=80`."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from enum import StrEnum


class Tier(StrEnum):
    BOOTSTRAPPER = "bootstrapper"
    PARTNER = "partner"
    CTO_SCALE = "cto_scale"


@dataclass(frozen=True)
class TierLimits:
    concurrent_per_user: int
    concurrent_per_project: int
    daily_jobs: int
    queue_boost: int
    fix_iterations: int


DEFAULT_LIMITS: dict[Tier, TierLimits] = {
    Tier.BOOTSTRAPPER: TierLimits(2, 2, 5, 0, 2),
    Tier.PARTNER: TierLimits(3, 3, 50, 2, 3),
    Tier.CTO_SCALE: TierLimits(10, 5, 200, 5, 5),
}


def limits_for(tier: Tier | str, env: dict[str, str] | None = None) -> TierLimits:
    tier = Tier(tier)
    env = os.environ if env is None else env
    base = DEFAULT_LIMITS[tier]
    overrides = {}
    for f in fields(TierLimits):
        raw = env.get(f"KILN_TIER_{tier.value.upper()}_{f.name.upper()}")
        if raw:
            overrides[f.name] = int(raw)
    return replace(base, **overrides) if overrides else base


def parse_tier(value: str | None) -> Tier | None:
    """A tier from a token claim; None when absent or unknown (no subscription)."""
    try:
        return Tier(value) if value else None
    except ValueError:
        return None
