"""The pipes between Kiln and one bwrap launch: bwrap reports its sandbox's first pid on
`--info-fd` (whose namespaces the host-side helpers enter) and, when held, waits on `--block-fd`
until Kiln has set up the namespace's network. A held launch also carries the write end of an
"exit" pipe whose read end slirp4netns watches: it exits once the sandboxed command is gone."""

from __future__ import annotations

import contextlib
import json
import os
import select
import time


class Handshake:
    def __init__(self, hold: bool) -> None:
        self.hold = hold
        self._info_r, self._info_w = os.pipe()
        self._block_r = self._block_w = self.exit_r = self._exit_w = -1
        if hold:
            self._block_r, self._block_w = os.pipe()
            self.exit_r, self._exit_w = os.pipe()

    def bwrap_args(self) -> list[str]:
        args = ["--info-fd", str(self._info_w)]
        return args + (["--block-fd", str(self._block_r)] if self.hold else [])

    def child_fds(self) -> tuple[int, ...]:
        """The ends the launched process keeps (pass them to Popen's `pass_fds`)."""
        return tuple(fd for fd in (self._info_w, self._block_r, self._exit_w) if fd >= 0)

    def spawned(self) -> None:
        """Drop our copies of the child's ends, so EOF on info means bwrap is done writing."""
        for name in ("_info_w", "_block_r", "_exit_w"):
            self._close(name)

    def sandbox_pid(self, timeout_s: float = 10.0) -> int:
        """The pid of the sandbox's first process (in the new namespaces)."""
        data, end = b"", time.monotonic() + timeout_s
        while (left := end - time.monotonic()) > 0:
            readable, _, _ = select.select([self._info_r], [], [], left)
            if not readable:
                break
            chunk = os.read(self._info_r, 4096)
            if not chunk:
                break
            data += chunk
        try:
            return int(json.loads(data)["child-pid"])
        except (ValueError, KeyError, TypeError) as exc:
            raise OSError("bwrap did not report its sandbox (it failed to start)") from exc

    def release(self) -> None:
        """Let a held command run (its network is ready)."""
        if self._block_w >= 0:
            os.write(self._block_w, b"1")
        self._close("_block_w")

    def close(self) -> None:
        for name in ("_info_r", "_info_w", "_block_r", "_block_w", "exit_r", "_exit_w"):
            self._close(name)

    def _close(self, name: str) -> None:
        fd = getattr(self, name)
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)
            setattr(self, name, -1)
