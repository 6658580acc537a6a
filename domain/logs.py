"""structlog, configured once for web and workers.

JSON lines when stdout is not a terminal (production, CI), a readable console otherwise. Job
context (job_id, stage, attempt, debug_id, user_id) is bound through contextvars so every line
logged while a stage runs carries it. A redaction processor drops secret values wherever they
appear, so a key can never reach a log line by accident.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from typing import Any

import structlog

from domain.settings import is_secret_env

_configured = False
_REDACTED = "[redacted]"
_TIMESTAMP = structlog.processors.TimeStamper(fmt="iso", utc=True)
_json_renderer: Any = None  # set when lines are JSON (see `write_line`)
_line_handler: logging.StreamHandler[Any] | None = None  # the stream stdlib lines go to


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
    # Values are replaced in place (the keys do not change, so iterating the dict itself is
    # safe) and only when something changes: this runs for every line.
    for key, value in event.items():
        if is_secret_env(key) and key != "debug_id":
            event[key] = _REDACTED
        elif secrets and isinstance(value, str):
            for secret in secrets:
                if secret in value:
                    event[key] = value = value.replace(secret, _REDACTED)
    return event


_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._\-]+")


def scrub(text: str) -> str:
    """Remove secret values and bearer tokens from free text (error details, command output)."""
    for secret in _secret_values():
        text = text.replace(secret, _REDACTED)
    return _BEARER.sub(r"\1" + _REDACTED, text)


_ENCODERS: dict[Any, json.JSONEncoder] = {}


def _dumps(obj: Any, default: Any = None) -> str:
    # What json.dumps does, minus a new encoder per call (it builds one whenever `default` is
    # given, as the JSON renderer does): the same text, for every line.
    encoder = _ENCODERS.get(default)
    if encoder is None:
        encoder = _ENCODERS.setdefault(default, json.JSONEncoder(default=default))
    return encoder.encode(obj)


def configure_logging(fmt: str = "auto", level: str | None = None) -> None:
    """Configure structlog and stdlib logging; safe to call more than once."""
    global _configured, _json_renderer
    if _configured:
        return
    _configured = True
    level_name = (level or os.environ.get("KILN_LOG_LEVEL", "INFO")).upper()
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_dumps)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    _json_renderer = renderer if fmt == "json" else None
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _TIMESTAMP,
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


def stdlib_formatter(renderer: Any) -> logging.Formatter:
    """Dramatiq's and uvicorn's stdlib lines in the same shape as ours: JSON in production,
    with the bound job context (an access line carries user_id/job_id) and the redaction.
    (structlog's own formatter: a short path of Kiln's for plain lines stopped earning its
    place once the access line, one per request, was written without stdlib logging.)"""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.contextvars.merge_contextvars,
                           structlog.processors.add_log_level, structlog.stdlib.add_logger_name,
                           _TIMESTAMP],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, _redact, renderer])


def _route_stdlib(renderer: Any, level: int) -> None:
    global _line_handler
    formatter = stdlib_formatter(renderer)
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
    _line_handler = plain[0] if plain else None
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # its own handlers: ours instead
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True


def writes_json() -> bool:
    """Whether lines are JSON (configured, and not for a terminal): `write_line` needs it."""
    return _json_renderer is not None


def write_line(logger_name: str, event: str) -> None:
    """One info line from `logger_name`, as the stdlib route renders a foreign line (the bound
    job context, level, logger, timestamp, redaction, JSON), written straight to the log stream.

    For a line per request (the access line): a LogRecord, its handlers and formatter cost
    several times the rendering. JSON only (see `writes_json`)."""
    ed: dict[str, Any] = {"event": event}
    structlog.contextvars.merge_contextvars(None, "info", ed)
    ed["level"] = "info"
    ed["logger"] = logger_name
    _TIMESTAMP(None, "info", ed)
    line = _json_renderer(None, "info", _redact(None, "info", ed)) + "\n"
    handler = _line_handler
    try:  # as a logging handler would, a log stream that fails never fails the caller
        if handler is None:  # no stream handler of ours (a test runner's capture): stderr
            sys.stderr.write(line)
            sys.stderr.flush()
            return
        with handler.lock:  # the lock its other lines take: lines never interleave
            handler.stream.write(line)
            handler.stream.flush()
    except (OSError, ValueError):  # a closed or broken stream
        pass


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)


def bind_job_context(**fields: Any) -> None:
    """Bind job fields (job_id, stage, attempt, debug_id, user_id) for this thread or task."""
    structlog.contextvars.bind_contextvars(**{k: v for k, v in fields.items() if v is not None})


def clear_job_context() -> None:
    structlog.contextvars.clear_contextvars()
