"""Kiln's error types. Stage code raises these; retries and the failure catalogue read them."""

from __future__ import annotations


class KilnError(Exception):
    """Base of every error Kiln raises on purpose."""

    code = "kiln_error"


class TransientError(KilnError):
    """Worth retrying: a timeout, a busy provider, a dropped connection."""

    code = "transient"


class PermanentError(KilnError):
    """Retrying will not help: bad credentials, invalid output, a refused request."""

    code = "permanent"


class SandboxGone(PermanentError):
    """The sandbox no longer exists (killed, expired, or on another host)."""

    code = "sandbox_gone"


class PathEscape(PermanentError):
    """A file path would leave the sandbox's workspace."""

    code = "path_escape"


class GeneratorOutputError(PermanentError):
    """The code generator answered with something that is not a valid set of files."""

    code = "generator_output"


class Cancelled(KilnError):
    """The job's cancel flag was seen while work was in progress."""

    code = "cancelled"


class StageFailure(PermanentError):
    """A stage's own, non-retryable failure with a catalogue reason (domain/failures.py)."""

    code = "stage_failure"

    def __init__(self, message: str, reason: str = "stage_error") -> None:
        super().__init__(message)
        self.reason = reason
