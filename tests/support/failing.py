"""A generator that fails the code stage the careless way: its error quotes the API key and a
bearer header. Importable by worker processes (KILN_GENERATOR=tests.support.failing:QuotesItsKey)."""

from __future__ import annotations

import os

from domain.logs import get_logger

log = get_logger("tests.failing")


class QuotesItsKey:
    name = "quotes-its-key"

    def generate(self, goal, workspace, feedback):
        key = os.environ.get("ANTHROPIC_API_KEY", "")
        log.info("generator.calling_model", api_key=key, note=f"using {key}")
        raise RuntimeError(f"model API rejected key {key} (Authorization: Bearer {key})")
