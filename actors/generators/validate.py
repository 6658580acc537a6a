"""Checks on a generator's answer before anything is written: safe relative paths, bounded
count and size, and a usable kiln.json. A bad answer raises GeneratorOutputError."""

from __future__ import annotations

import json
from typing import Any

from actors.sandbox.paths import checked_relative
from domain.errors import GeneratorOutputError, PathEscape

MAX_FILES = 60
MAX_FILE_BYTES = 200_000
MAX_TOTAL_BYTES = 1_000_000
MANIFEST = "kiln.json"


def validate_files(raw: Any, workspace: dict[str, str]) -> dict[str, str]:
    """`raw` is the model's list of {"path", "content"}; returns path -> text."""
    if not isinstance(raw, list) or not raw:
        raise GeneratorOutputError("the answer has no files")
    if len(raw) > MAX_FILES:
        raise GeneratorOutputError(f"the answer has {len(raw)} files (at most {MAX_FILES})")
    files: dict[str, str] = {}
    total = 0
    for entry in raw:
        if not isinstance(entry, dict):
            raise GeneratorOutputError("a file entry is not an object")
        path, content = entry.get("path"), entry.get("content")
        if not isinstance(path, str) or not isinstance(content, str):
            raise GeneratorOutputError("a file entry lacks a string path or content")
        try:
            clean = checked_relative(path.strip()).as_posix()
        except PathEscape as exc:
            raise GeneratorOutputError(f"unsafe file path: {exc}") from exc
        if clean == "." or clean.endswith("/"):
            raise GeneratorOutputError(f"not a file path: {path!r}")
        size = len(content.encode("utf-8"))
        if size > MAX_FILE_BYTES:
            raise GeneratorOutputError(f"{clean} is {size} bytes (at most {MAX_FILE_BYTES})")
        total += size
        files[clean] = content
    if total > MAX_TOTAL_BYTES:
        raise GeneratorOutputError(f"the files total {total} bytes (at most {MAX_TOTAL_BYTES})")
    manifest = files.get(MANIFEST, workspace.get(MANIFEST))
    if manifest is None:
        raise GeneratorOutputError("no kiln.json in the answer or the workspace")
    _check_manifest(manifest)
    return files


def _check_manifest(text: str) -> None:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise GeneratorOutputError("kiln.json is not JSON") from exc
    if not isinstance(data, dict) or not all(
            isinstance(data.get(key), str) and data[key] for key in ("checks", "start")):
        raise GeneratorOutputError("kiln.json needs string 'checks' and 'start' commands")
    if "{port}" not in data["start"]:
        raise GeneratorOutputError("kiln.json 'start' must contain {port}")
