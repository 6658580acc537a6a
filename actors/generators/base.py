"""The code generator interface. A generator turns a goal into the app's files.

Every generated app follows one convention, read by the pipeline from `kiln.json`:
  {"checks": "<command that runs the app's tests>",
   "start": "<command that serves the app; {port} is replaced>",
   "health": "/"}
Dependencies: `requirements.txt` (pip, into a venv) and/or `package.json` (npm).
"""

from __future__ import annotations

from typing import Protocol


class Generator(Protocol):
    name: str

    def generate(self, goal: str, workspace: dict[str, str], feedback: str | None) -> dict[str, str]:
        """Files to write (relative path -> text). `workspace` is what the sandbox holds now
        (the skeleton, or the previous iteration's files); `feedback` is the last check
        failure's output in the fix loop, else None."""
