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


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (children, their children, ...), read once."""
    children: dict[int, list[int]] = {}
    for child, stat in read_all("stat"):
        fields = stat.rsplit(b")", 1)[1].split()
        if fields[0] not in (b"Z", b"X"):
            children.setdefault(int(fields[1]), []).append(child)
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found
