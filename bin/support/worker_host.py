"""`python -m bin.support.worker_host [dramatiq options]`: what a worker host runs.

The Dramatiq workers (`dramatiq actors <options>`) and this host's preview gateway
(`python -m web.gateway`, docs/previews.md), each restarted when it exits (supervisor.py), as
one process a container or a service manager runs. SIGTERM stops the gateway, then the workers
(each finishing its running stage, up to `--worker-shutdown-timeout`).
"""

from __future__ import annotations

import signal
import sys

from bin.support.supervisor import Supervisor
from domain.settings import ConfigError, Settings
from web.gateway import signing

DEFAULT_SHUTDOWN_MS = 600_000  # dramatiq's own default


def _stop_once(_signum: int, _frame: object) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    raise KeyboardInterrupt


def shutdown_s(dramatiq_args: list[str]) -> float:
    """How long the workers may take to stop, from their own option."""
    if "--worker-shutdown-timeout" in dramatiq_args:
        at = dramatiq_args.index("--worker-shutdown-timeout")
        return int(dramatiq_args[at + 1]) / 1000
    return DEFAULT_SHUTDOWN_MS / 1000


def main(argv: list[str]) -> int:
    try:  # before anything starts: a gateway that cannot start would only restart forever
        signing.check_secret(Settings.from_env().preview_gateway_secret, "the worker host")
    except ConfigError as exc:
        print(f"worker_host: {exc}", file=sys.stderr)
        return 2
    supervisor = Supervisor(on_event=lambda msg: print(f"worker_host: {msg}", flush=True))
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, _stop_once)
    try:
        supervisor.add("workers", [sys.executable, "-m", "dramatiq", "actors", *argv])
        supervisor.add("gateway", [sys.executable, "-m", "web.gateway"])
        supervisor.start()
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        supervisor.stop(timeout=shutdown_s(argv) + 10)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
