"""Bounded capture of a command's output: only the tail is kept (that is where errors are)."""

from __future__ import annotations

import contextlib
import threading

from .base import MAX_OUTPUT


class Tail:
    """Reads a pipe on a thread, keeping only the last MAX_OUTPUT characters."""

    def __init__(self, pipe: object) -> None:
        self._pipe = pipe
        self._buf = bytearray()
        self._dropped = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        read = self._pipe.read1  # type: ignore[attr-defined]
        while chunk := read(65536):
            self._buf += chunk
            if len(self._buf) > 4 * MAX_OUTPUT:
                del self._buf[: len(self._buf) - 4 * MAX_OUTPUT]
                self._dropped = True

    def join(self) -> None:
        self._thread.join(timeout=2.0)
        with contextlib.suppress(OSError):
            self._pipe.close()  # type: ignore[attr-defined]

    def text(self) -> str:
        out = bytes(self._buf).decode("utf-8", errors="replace")
        if len(out) <= MAX_OUTPUT and not self._dropped:
            return out
        note = "[... output truncated ...]\n"
        return note + out[-(MAX_OUTPUT - len(note)):]
