"""Daily quota windows: one counter per user per UTC day, reset at 00:00 UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.clock import utc_day


def day_start(now: float) -> float:
    """Epoch seconds of 00:00 UTC on the day of `now`."""
    day = datetime.fromtimestamp(now, tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.timestamp()


def quota_days(now: float, horizon: int) -> list[tuple[str, int]]:
    """Today and the next `horizon - 1` UTC days as (YYYY-MM-DD, midnight epoch seconds).
    An over-quota start is counted against the first of these days with room left."""
    first = datetime.fromtimestamp(day_start(now), tz=UTC)
    out = []
    for i in range(max(horizon, 2)):
        day = first + timedelta(days=i)
        out.append((utc_day(day.timestamp()), int(day.timestamp())))
    return out
