"""Workspace file access for the local runtime: every path is checked so a generated file name
(or a symlink planted by a command inside the sandbox) can never reach outside the workspace."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from domain.errors import PathEscape

# list_files() bounds: a workspace with a venv or node_modules holds tens of thousands of files.
SKIP_DIRS = frozenset({".venv", "venv", "node_modules", "__pycache__", ".git", ".pytest_cache"})
MAX_LISTED = 2000


def checked_relative(rel: str) -> PurePosixPath:
    """`rel` as a relative path; raises PathEscape for empty, absolute or `..` paths."""
    if not rel or "\x00" in rel:
        raise PathEscape(f"invalid path {rel!r}")
    pure = PurePosixPath(rel)
    if pure.is_absolute() or rel.startswith("~"):
        raise PathEscape(f"absolute path refused: {rel}")
    if ".." in pure.parts:
        raise PathEscape(f"path with '..' refused: {rel}")
    return pure


def remote_path(workdir: str, rel: str) -> str:
    """The absolute path of `rel` under a remote sandbox's working directory."""
    pure = checked_relative(rel)
    return workdir if str(pure) == "." else f"{workdir}/{pure.as_posix()}"


def safe_path(workspace: Path, rel: str) -> Path:
    """The host path for `rel` inside `workspace`; raises PathEscape for absolute paths, `..`
    components, and paths that resolve (through symlinks) outside the workspace."""
    pure = checked_relative(rel)
    root = workspace.resolve()
    target = (root / pure).resolve()
    if target != root and root not in target.parents:
        raise PathEscape(f"path leaves the workspace: {rel}")
    return target


def write_text(workspace: Path, rel: str, text: str) -> None:
    target = safe_path(workspace, rel)
    if target == workspace.resolve():
        raise PathEscape(f"not a file path: {rel}")
    target.parent.mkdir(parents=True, exist_ok=True)
    # O_NOFOLLOW: a symlink swapped in after the check above still cannot redirect the write.
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
    try:
        fd = os.open(target, flags, 0o644)
    except OSError as exc:
        if os.path.islink(target):
            raise PathEscape(f"symlink refused: {rel}") from exc
        raise
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def read_text(workspace: Path, rel: str) -> str:
    target = safe_path(workspace, rel)
    fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "r", encoding="utf-8", errors="replace") as fh:
        return fh.read()


def list_files(workspace: Path) -> list[str]:
    """Relative paths of regular files, sorted, skipping dependency and cache directories."""
    out: list[str] = []
    root = workspace.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            full = Path(dirpath) / name
            if full.is_symlink() or not full.is_file():
                continue
            out.append(full.relative_to(root).as_posix())
            if len(out) >= MAX_LISTED:
                return sorted(out)
    return sorted(out)
