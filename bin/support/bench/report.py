"""The printed table: one row per figure, with its target and whether it was met."""

from __future__ import annotations

import json
from typing import Any


def table(results: dict[str, Any]) -> str:
    return json.dumps(results["results"], indent=1)
