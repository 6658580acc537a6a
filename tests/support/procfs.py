"""Read every process's /proc entry, for tests that look for processes by what they run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path


def read_all(name: str) -> Iterator[tuple[int, bytes]]:
    """(pid, /proc/pid/<name>) for every process that is still there when read."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                yield int(entry.name), (entry / name).read_bytes()
            except OSError:
                continue  # it ended while we looked
