"""Keep tokens out of access logs: the events route accepts `?access_token=` (a browser's
EventSource cannot send headers), and uvicorn logs the full path with its query string."""

from __future__ import annotations

import logging
import re

_TOKEN = re.compile(r"(access_token=)[^&\s]+")


class _ScrubTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            # Runs for every access line: a plain substring test first, the regex only on a hit.
            record.args = tuple(_TOKEN.sub(r"\1[redacted]", a)
                                if isinstance(a, str) and "access_token=" in a else a
                                for a in record.args)
        return True


_FILTER = _ScrubTokens()


def install() -> None:
    """Idempotent: one filter on uvicorn's access logger."""
    logger = logging.getLogger("uvicorn.access")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
