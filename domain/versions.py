"""Build versions: `build_v0_N`, N counting a project's READY builds from 1."""

from __future__ import annotations

import re

_PATTERN = re.compile(r"^build_v0_(\d+)$")


def build_version(n: int) -> str:
    if n < 1:
        raise ValueError("build numbers start at 1")
    return f"build_v0_{n}"


def build_number(version: str) -> int:
    match = _PATTERN.match(version)
    if not match:
        raise ValueError(f"not a build version: {version!r}")
    return int(match.group(1))
