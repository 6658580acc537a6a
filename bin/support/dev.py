"""`bin/dev`: the whole of Kiln on one machine.

Embedded Redis (append-only file under .kiln/redis, so a second run finds the first's data),
the Dramatiq workers, this host's preview gateway and the web app, restarted if they die. With a goal, it also runs one
build through the HTTP API, printing each stage, then `Preview: <url>`. Ctrl-C stops all.

Killed outright (SIGKILL, a closed terminal), it takes its workers, web app and Redis with it:
each gets SIGTERM from the kernel and stops within seconds, and the port is free again.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
import jwt

from bin.support.embedded_redis import EmbeddedRedis
from bin.support.jwt_secret import local_secret
from bin.support.migrate import migrate
from bin.support.supervisor import Supervisor
from domain.logs import configure_logging
from domain.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
STOP_S = 5  # how long a stopping worker or web server may finish what it is doing


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bin/dev", description=__doc__.splitlines()[0])
    parser.add_argument("goal", nargs="?", help='run one build, e.g. "a todo app"')
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    parser.add_argument("--processes", type=int, default=1, help="worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker process")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".kiln",
                        help="Redis data, sandboxes, logs and the local JWT secret (.kiln)")
    return parser.parse_args(argv)


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_http(url: str, deadline_s: float = 30) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"bin/dev: {url} did not come up")


def run_build(base: str, goal: str) -> None:
    secret = Settings.from_env().jwt_secret
    token = jwt.encode({"sub": "dev", "tier": "partner", "exp": int(time.time()) + 86_400},
                       secret, algorithm="HS256")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        project = client.post("/api/projects", json={"name": goal[:60]}).json()
        start = client.post("/api/generation/start",
                            json={"project_id": project["project_id"], "goal": goal})
        if start.status_code != 201:
            raise SystemExit(f"bin/dev: start refused: {start.text}")
        job_id = start.json()["job_id"]
        print(f"Build {job_id} started", flush=True)
        with client.stream("GET", f"/api/generation/{job_id}/events", timeout=None) as events:
            for line in events.iter_lines():
                if not line.startswith("data:"):
                    continue
                event = json.loads(line[5:])
                if event.get("type") == "queue":
                    continue
                print(f"  {event.get('stage_label') or event.get('status')}", flush=True)
                if event.get("status") in ("ready", "failed"):
                    break
        status = client.get(f"/api/generation/{job_id}/status").json()
        if status["status"] == "ready":
            print(f"Preview: {status['preview_url']}", flush=True)
            # The stable URL wants its owner's credentials; a signed link carries them.
            opened = client.post(f"/api/generation/{job_id}/preview-link")
            if opened.status_code == 200:
                print(f"Open it: {opened.json()['url']}  (a signed link, valid until "
                      f"{opened.json()['expires_at']})", flush=True)
        else:
            print(f"Build failed: {status['error_message']} (debug_id {status['debug_id']})",
                  flush=True)


def stop_sandboxes() -> None:
    """Previews run in sandboxes on this host; stopping the stack stops them too (their jobs
    stay READY in Redis, with previews that no longer answer)."""
    from actors.sandbox import get_runtime
    from actors.sandbox.registry import SandboxRegistry, this_host
    from domain.redis_client import connect

    settings = Settings.from_env()
    configure_logging(settings.log_format, level="WARNING")  # the count below says enough
    client = connect(settings.redis_url)
    runtime = get_runtime(settings, client)
    stopped = 0
    for record in SandboxRegistry(client, settings.redis_prefix).all():
        if record.host == this_host():
            stopped += bool(runtime.kill(record.sandbox_id))
    if stopped:
        print(f"bin/dev: stopped {stopped} preview sandbox(es)", flush=True)
    client.close()


def _stop_once(_signum: int, _frame: object) -> None:
    # Signals can come in twos (a closed terminal sends SIGHUP, then SIGTERM): stop once, in order.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    args = _args(argv)
    if not _port_free(args.port):
        print(f"bin/dev: port {args.port} is in use; pick another with --port or PORT",
              file=sys.stderr)
        return 2
    kiln_dir = args.data_dir.resolve()
    redis_server = None
    # The web app refuses to start without a secret: this machine's own (bin/token reads it).
    env = {"KILN_SANDBOX_ROOT": str(kiln_dir / "sandboxes"),
           "KILN_JWT_SECRET": local_secret(kiln_dir),
           # This host's preview gateway (docs/previews.md): unused while the web app is on
           # the same host, started so a one-box setup runs what a worker host runs.
           "KILN_PREVIEW_GATEWAY_SECRET": local_secret(kiln_dir, "KILN_PREVIEW_GATEWAY_SECRET",
                                                       "gateway-secret"),
           "KILN_PREVIEW_GATEWAY_BIND": os.environ.get("KILN_PREVIEW_GATEWAY_BIND")
           or "127.0.0.1:0",
           # Previews on an origin of their own (the same server under another name), so an
           # app's JavaScript cannot read the build page's token (docs/previews.md).
           "KILN_PREVIEW_ORIGIN": os.environ.get("KILN_PREVIEW_ORIGIN")
           or f"http://localhost:{args.port}"}
    if not os.environ.get("REDIS_URL"):
        redis_server = EmbeddedRedis(data_dir=kiln_dir / "redis")
        env["REDIS_URL"] = redis_server.start()
        print(f"bin/dev: redis at {env['REDIS_URL']} (data in {kiln_dir / 'redis'})", flush=True)
    os.environ.update(env)
    for line in migrate(Settings.from_env()).lines():  # an older Kiln's data: today's layout
        print(f"bin/dev: {line}", flush=True)
    logs = kiln_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor(on_event=lambda msg: print(f"bin/dev: {msg}", flush=True))
    for signum in (signal.SIGTERM, signal.SIGHUP):  # SIGHUP: its terminal was closed
        signal.signal(signum, _stop_once)
    try:
        supervisor.add("workers", [sys.executable, "-m", "dramatiq", "actors",
                                   "--processes", str(args.processes),
                                   "--threads", str(args.threads),
                                   # Notice a worker killed while booting at once, not in 30 s.
                                   "--worker-fork-timeout", "1000",
                                   # A stop (Ctrl-C, or bin/dev killed) ends in seconds.
                                   "--worker-shutdown-timeout", str(STOP_S * 1000)], env,
                       log_path=str(logs / "workers.log"))
        supervisor.add("gateway", [sys.executable, "-m", "web.gateway"], env,
                       log_path=str(logs / "gateway.log"))
        supervisor.add("web", [sys.executable, "-m", "uvicorn", "web.app:app", "--host",
                               "127.0.0.1", "--port", str(args.port), "--no-access-log",
                               # Open event streams would hold a stopping server forever.
                               "--timeout-graceful-shutdown", str(STOP_S)], env,
                       log_path=str(logs / "web.log"))
        supervisor.start()
        base = f"http://127.0.0.1:{args.port}"
        _wait_http(f"{base}/healthz")
        print(f"Kiln is running at {base}/  (Ctrl-C stops it; logs in {logs})", flush=True)
        if args.goal:
            run_build(base, args.goal)
        signal.pause()
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("\nbin/dev: stopping", flush=True)
    finally:
        supervisor.stop()
        stop_sandboxes()
        if redis_server:
            redis_server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
