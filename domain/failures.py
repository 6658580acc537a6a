"""The failure catalogue: what a user reads when a build fails, per stage and reason."""

from __future__ import annotations

from domain.status import Status

FRIENDLY: dict[str, str] = {
    Status.SCHEDULED: "We couldn't start your scheduled build. Want us to try again?",
    Status.QUEUED: "We couldn't start your build. Want us to try again?",
    Status.STARTING: "We couldn't start a workspace for your build. Want us to try again?",
    Status.SCAFFOLD: "We hit an issue setting up your project. Want us to try again?",
    Status.CODE: "We hit an issue writing your app's code. Want us to try again?",
    Status.DEPS: "We hit an issue with dependency installation. Want us to try again?",
    Status.CHECKS: "Your app's checks kept failing after several fixes. Want us to try again?",
}

CANCELLED_MESSAGE = "Cancelled by user"
WORKER_LOST_MESSAGE = "We lost the worker running your build. Want us to try again?"
TIMED_OUT_MESSAGE = "Your build stopped making progress. Want us to try again?"
PREVIEW_MESSAGE = "Your app built but its preview did not start. Want us to try again?"


class Reason:
    """Machine-readable failure reasons, stored as `error_code` on the job."""

    STAGE_ERROR = "stage_error"
    CANCELLED = "cancelled"
    WORKER_LOST = "worker_lost"
    STUCK = "stuck"
    CHECKS_FAILED = "checks_failed"
    PREVIEW_FAILED = "preview_failed"


def friendly_message(stage: str, reason: str = Reason.STAGE_ERROR) -> str:
    if reason == Reason.CANCELLED:
        return CANCELLED_MESSAGE
    if reason == Reason.WORKER_LOST:
        return WORKER_LOST_MESSAGE
    if reason == Reason.STUCK:
        return TIMED_OUT_MESSAGE
    if reason == Reason.PREVIEW_FAILED:
        return PREVIEW_MESSAGE
    return FRIENDLY.get(stage, "Your build failed. Want us to try again?")


MAX_DETAIL = 2000


def sanitize_detail(text: str) -> str:
    """Trim an error's detail for the job record: bounded size, no secrets, no tracebacks' paths
    beyond the workspace. Secret scrubbing is done by the caller with `domain.logs.scrub`."""
    text = text.strip()
    if len(text) > MAX_DETAIL:
        text = "..." + text[-MAX_DETAIL:]
    return text
