"""structlog, configured once for web and workers.

JSON lines when stdout is not a terminal (production, CI), a readable console otherwise. Job
context (job_id, stage, attempt, debug_id, user_id) is bound through contextvars so every line
logged while a stage runs carries it. A redaction processor drops secret values wherever they
appear, so a key can never reach a log line by accident.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any

import structlog

from domain.settings import is_secret_env

_configured = False
_REDACTED = "[redacted]"


_secret_names: tuple[int, list[str]] = (-1, [])


def _secret_values() -> list[str]:
    # Runs for every log line: remember which variable names are secret (until the number of
    # variables changes) and read just their current values, instead of decoding and testing
    # the whole environment each time.
    global _secret_names
    size = len(os.environ)
    if _secret_names[0] != size:
        _secret_names = (size, [k for k in os.environ if is_secret_env(k)])
    values = (os.environ.get(k) for k in _secret_names[1])
    return [v for v in values if v and len(v) >= 8]


def _redact(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    secrets = _secret_values()
    for key, value in list(event.items()):
        if is_secret_env(key) and key not in ("debug_id",):
            event[key] = _REDACTED
        elif isinstance(value, str) and secrets:
            for secret in secrets:
                if secret in value:
                    value = value.replace(secret, _REDACTED)
            event[key] = value
    return event


_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._\-]+")


def scrub(text: str) -> str:
    """Remove secret values and bearer tokens from free text (error details, command output)."""
    for secret in _secret_values():
        text = text.replace(secret, _REDACTED)
    return _BEARER.sub(r"\1" + _REDACTED, text)


def configure_logging(fmt: str = "auto", level: str | None = None) -> None:
    """Configure structlog and stdlib logging; safe to call more than once."""
    global _configured
    if _configured:
        return
    _configured = True
    level_name = (level or os.environ.get("KILN_LOG_LEVEL", "INFO")).upper()
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level_name, 20)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    _route_stdlib(renderer, getattr(logging, level_name, 20))
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per preview poll is noise


class _StdlibFormatter(structlog.stdlib.ProcessorFormatter):
    """ProcessorFormatter with a short path for the common stdlib line: a plain message, no
    traceback or stack (uvicorn's access line, one per request). It runs the same processors on
    the same event dict, so the line is the same, but skips the copy of the record and the
    second formatting pass, which cost more than the processors themselves."""

    def format(self, record: logging.LogRecord) -> str:
        if (record.exc_info or record.stack_info or self.pass_foreign_args
                or hasattr(record, "_logger")):  # a traceback, or a line from structlog
            return super().format(record)
        meth_name = record.levelname.lower()
        ed: Any = {"event": record.getMessage(), "_record": record, "_from_structlog": False}
        for proc in self.foreign_pre_chain or ():
            ed = proc(None, meth_name, ed)
        for proc in self.processors:
            ed = proc(None, meth_name, ed)
        return ed  # type: ignore[no-any-return]  # the renderer's string


def _route_stdlib(renderer: Any, level: int) -> None:
    """Dramatiq's and uvicorn's stdlib lines in the same shape as ours: JSON in production,
    with the bound job context (an access line carries user_id/job_id) and the redaction."""
    formatter = _StdlibFormatter(
        foreign_pre_chain=[structlog.contextvars.merge_contextvars,
                           structlog.processors.add_log_level, structlog.stdlib.add_logger_name,
                           structlog.processors.TimeStamper(fmt="iso", utc=True)],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, _redact, renderer])
    root = logging.getLogger()
    root.setLevel(level)
    # The dramatiq CLI's worker processes already have a plain handler on their log pipe:
    # reformat it. Other handlers (a test runner's capture) are left alone.
    plain = [h for h in root.handlers if type(h) is logging.StreamHandler]
    if not root.handlers:
        plain = [logging.StreamHandler(sys.stderr)]
        root.addHandler(plain[0])
    for handler in plain:
        handler.setFormatter(formatter)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # its own handlers: ours instead
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)


def bind_job_context(**fields: Any) -> None:
    """Bind job fields (job_id, stage, attempt, debug_id, user_id) for this thread or task."""
    structlog.contextvars.bind_contextvars(**{k: v for k, v in fields.items() if v is not None})


def clear_job_context() -> None:
    structlog.contextvars.clear_contextvars()
