"""What the pipeline knows about an app's workspace: the skeleton, the `kiln.json` manifest
and how its dependencies are installed."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from actors.sandbox.base import CommandResult
from domain.errors import StageFailure, TransientError

MANIFEST = "kiln.json"

DEFAULT_MANIFEST = {
    "checks": "python3 -m unittest discover -s tests -q",
    "start": "python3 app.py --port {port}",
    "health": "/",
    "install": "",  # an extra install/build step of the app's own, run in the deps stage
}


def skeleton(goal: str) -> dict[str, str]:
    """The files every project starts with; the generator adds or replaces the rest."""
    return {
        MANIFEST: json.dumps(DEFAULT_MANIFEST, indent=2) + "\n",
        "README.md": f"# {goal.strip().splitlines()[0][:80] if goal.strip() else 'App'}\n\n"
                     f"Built by Kiln from the request:\n\n> {goal.strip()}\n",
        "requirements.txt": "",
        ".gitignore": ".venv/\nnode_modules/\n__pycache__/\ndata/\n",
        "tests/__init__.py": "",
    }


@dataclass(frozen=True)
class Manifest:
    checks: str
    start: str
    health: str = "/"
    install: str = ""

    def start_command(self, port: int) -> str:
        return self.start.replace("{port}", str(port))


def read_manifest(text: str | None) -> Manifest:
    data = dict(DEFAULT_MANIFEST)
    if text:
        try:
            loaded = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"{MANIFEST} is not valid JSON: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ValueError(f"{MANIFEST} must be a JSON object")
        data.update({k: v for k, v in loaded.items() if k in DEFAULT_MANIFEST and isinstance(v, str)})
    return Manifest(**data)


def install_commands(files: dict[str, str]) -> list[str]:
    """Shell commands that install the app's dependencies; empty when it has none."""
    commands = []
    requirements = files.get("requirements.txt", "")
    if any(line.strip() and not line.strip().startswith("#") for line in requirements.splitlines()):
        commands.append("python3 -m venv .venv && .venv/bin/pip install --disable-pip-version-check"
                        " -q -r requirements.txt")
    if "package.json" in files:
        commands.append("npm install --no-audit --no-fund --silent")
    manifest = read_manifest(files.get(MANIFEST))
    if manifest.install:
        commands.append(manifest.install)
    return commands


def install(files: dict[str, str], run: Callable[..., CommandResult]) -> None:
    """Install the app's dependencies with `run(command, egress=True)` (deps, and a replacement
    sandbox for checks).
    A timeout is worth a retry; a failing command is the app's own failure."""
    for command in install_commands(files):
        result = run(command, egress=True)  # installs may fetch packages (docs/sandbox.md)
        if result.timed_out:
            raise TransientError(f"dependency installation timed out: {command}")
        if not result.ok:
            raise StageFailure(f"`{command}` exited {result.exit_code}:\n{result.output}")
