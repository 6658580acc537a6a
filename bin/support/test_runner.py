"""`bin/test`'s Python half: an embedded Redis unless REDIS_URL is set, then pytest.

Exits with pytest's status; stops the Redis it started on success, failure, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys

from bin.support.embedded_redis import EmbeddedRedis


def _raise_interrupt(signum: int, _frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # uv forwards it too: handle it once
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _raise_interrupt)
    server: EmbeddedRedis | None = None
    env = dict(os.environ)
    # The web app refuses to start without a secret; the tests' servers get this run's own.
    env.setdefault("KILN_JWT_SECRET", secrets.token_hex(32))
    if not env.get("REDIS_URL"):
        server = EmbeddedRedis(appendonly=False)
        env["REDIS_URL"] = server.start()
        print(f"bin/test: embedded redis-server at {env['REDIS_URL']}", flush=True)
    pytest = None
    try:
        pytest = subprocess.Popen([sys.executable, "-m", "pytest", *argv], env=env)
        return pytest.wait()
    except KeyboardInterrupt:
        if pytest and pytest.poll() is None:
            pytest.send_signal(signal.SIGINT)
            try:
                pytest.wait(30)
            except subprocess.TimeoutExpired:
                pytest.kill()
        return 130
    finally:
        if server:
            server.cleanup()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
