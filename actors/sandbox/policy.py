"""The no-isolation fallback is for trusted code only.

Without bubblewrap a local sandbox is a plain process session on the host: its code can read
what the worker's user can read (`/proc/<pid>/environ` of the worker, with its API keys; a
Redis socket; host files). Kiln's `template` generator writes known code, so that is tolerable
for development; code written by a model is not. A worker that would run such code unisolated
refuses to start, unless the operator says they accept it (KILN_ALLOW_UNISOLATED=1).
"""

from __future__ import annotations

from domain.logs import get_logger
from domain.settings import Settings

from . import isolation

log = get_logger("kiln.sandbox")

TRUSTED_GENERATORS = frozenset({"template"})


class UnisolatedRefused(ImportError):
    """Raised while the worker imports its actors: the dramatiq CLI then exits (code 2)."""


def refuse_unisolated(settings: Settings) -> None:
    if (settings.sandbox != "local" or settings.generator in TRUSTED_GENERATORS
            or settings.allow_unisolated or isolation.bwrap_usable()):
        return
    message = (f"refusing to start: KILN_GENERATOR={settings.generator} writes untrusted code, "
               "and bubblewrap is missing or cannot create namespaces here, so local sandboxes "
               "would run it on the host with the worker's own access (its environment and "
               "secrets, Redis, the file system). Install bubblewrap (and let it create "
               "namespaces), use KILN_SANDBOX=e2b, or set KILN_ALLOW_UNISOLATED=1 to accept "
               "the risk for trusted code.")
    log.error("worker_refused_unisolated", generator=settings.generator, detail=message)
    raise UnisolatedRefused(message)
