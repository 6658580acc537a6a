"""Lines Dramatiq and uvicorn log through stdlib logging come out as Kiln's JSON lines: the
job context bound where they were logged, level, logger, timestamp, secrets redacted, and a
traceback rendered into the line (domain/logs.py: stdlib_formatter)."""

from __future__ import annotations

import io
import json
import logging

import structlog

from domain.logs import bind_job_context, clear_job_context, stdlib_formatter


def _logger(stream: io.StringIO) -> logging.Logger:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(stdlib_formatter(structlog.processors.JSONRenderer()))
    logger = logging.getLogger("dramatiq.test-lines")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def test_a_stdlib_line_is_a_json_line_with_the_job_context(monkeypatch):
    monkeypatch.setenv("KILN_TEST_API_KEY", "sk-stdlib-secret-0123")
    stream = io.StringIO()
    logger = _logger(stream)
    bind_job_context(job_id="j1", stage="code", debug_id="dbg_1")
    try:
        logger.info("Retrying %s with key %s", "stage_code", "sk-stdlib-secret-0123")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("Failed to process message")
    finally:
        clear_job_context()
    plain, failed = (json.loads(line) for line in stream.getvalue().splitlines())
    assert plain["event"] == "Retrying stage_code with key [redacted]"
    assert (plain["level"], plain["logger"]) == ("info", "dramatiq.test-lines")
    assert (plain["job_id"], plain["stage"], plain["debug_id"]) == ("j1", "code", "dbg_1")
    assert plain["timestamp"].endswith("Z")
    assert failed["level"] == "error" and "RuntimeError: boom" in failed["exception"]
