"""Queue ETAs from a moving average of recent build durations (pure arithmetic, no Redis)."""

from __future__ import annotations

import math
from collections.abc import Iterable


def moving_average(samples: Iterable[float], default: float) -> float:
    """Mean of the recent samples; `default` until the first build has finished."""
    values = [s for s in samples if s > 0]
    return sum(values) / len(values) if values else default


def slot_offsets(admitted_at: Iterable[float], now: float, cap: int, avg: float) -> list[float]:
    """Seconds until each of the `cap` global slots frees, soonest first: a free slot is 0, a
    held one frees `avg` seconds after its job was admitted (0 once that time is past)."""
    cap = max(cap, 1)
    held = sorted(max(0.0, at + avg - now) for at in admitted_at)[:cap]
    return [0.0] * (cap - len(held)) + held


def eta_for_position(position: int, offsets: list[float], avg: float) -> float:
    """Seconds until the job at 1-based `position` can start: the position-th slot to free,
    counting each slot again every `avg` seconds (later waves)."""
    wave, slot = divmod(position - 1, len(offsets))
    return offsets[slot] + wave * avg


def retry_after(eta: float) -> int:
    """Whole seconds for a Retry-After header: never below 1."""
    return max(1, math.ceil(eta))
