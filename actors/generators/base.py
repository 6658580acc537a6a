"""The code generator interface. A generator turns a goal into the app's files, or changes the
app of a version the build starts from.

Every generated app follows one convention, read by the pipeline from `kiln.json`:
  {"checks": "<command that runs the app's tests>",
   "start": "<command that serves the app; {port} is replaced>",
   "health": "/"}
Dependencies: `requirements.txt` (pip, into a venv) and/or `package.json` (npm). The app's page
uses relative URLs for its own API and assets (`api/items`, not `/api/items`): previews are
served under a path prefix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class BaseVersion:
    """The READY version a build starts from (docs/versions.md: the project line)."""

    build_version: str  # e.g. build_v0_3
    job_id: str
    goal: str  # what that version was asked: its first goal, or its change request
    files: dict[str, str] = field(repr=False)  # its complete source tree


class Generator(Protocol):
    name: str

    def generate(self, goal: str, workspace: dict[str, str], feedback: str | None, *,
                 base: BaseVersion | None = None) -> dict[str, str]:
        """Files to write (relative path -> text); files not returned stay as they are.

        `goal` is the app to build, or, with `base`, the change request to apply to that
        version's app. `workspace` is what the sandbox holds now (the skeleton or the base's
        files, plus a previous attempt's in the fix loop); `feedback` is the last check
        failure's output in the fix loop, else None.

        The code stage passes `base` only when the build starts from a version, so a
        generator written before versions (three arguments) still serves fresh builds."""
