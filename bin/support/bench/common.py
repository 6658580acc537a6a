"""What every benchmark shares: its own Redis, real worker processes, percentiles."""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis

from bin.support.embedded_redis import EmbeddedRedis

ROOT = Path(__file__).resolve().parents[3]
NOOP_RUNTIME = "bin.support.bench.noop:NoopRuntime"
NOOP_GENERATOR = "bin.support.bench.noop:NoopGenerator"
HUGE = "1000000"
# No tier, user or queue cap gets in the way of a flood (admission is measured on its own).
# The global cap sizes the ETA's per-slot list, so it is "all of a flood", not "infinite".
GLOBAL_CAP = 10_000
UNCAPPED = {"KILN_GLOBAL_SANDBOX_CAP": str(GLOBAL_CAP), "KILN_QUEUE_CAP": str(2 * GLOBAL_CAP),
            **{f"KILN_TIER_CTO_SCALE_{f}": HUGE
               for f in ("CONCURRENT_PER_USER", "CONCURRENT_PER_PROJECT", "DAILY_JOBS")}}


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100); None for no samples."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def summary_ms(seconds: list[float]) -> dict[str, Any]:
    """p50/p99/max in milliseconds and the sample count."""
    ms = [s * 1000 for s in seconds]
    out: dict[str, Any] = {"n": len(ms)}
    for name, p in (("p50", 50), ("p99", 99)):
        value = percentile(ms, p)
        out[name] = None if value is None else round(value, 2)
    out["max"] = round(max(ms), 2) if ms else None
    out["mean"] = round(statistics.fmean(ms), 2) if ms else None
    return out


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """REDIS_URL when set (a Redis for benchmarking only), else an embedded one of our own."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = EmbeddedRedis(data_dir=workdir / "redis")
    try:
        yield server.start()
    finally:
        server.stop()


def client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True)


def fresh(url: str) -> None:
    """Empty our own embedded Redis between phases; a REDIS_URL one is never flushed."""
    if not os.environ.get("REDIS_URL"):
        client(url).flushall()


def base_env(url: str, workdir: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "REDIS_URL": url, "PYTHONPATH": str(ROOT), "KILN_LOG_FORMAT": "json",
            "KILN_SANDBOX_ROOT": str(workdir / "sandboxes"), **extra}


class Processes:
    """Child processes this benchmark started (own sessions); stops exactly those."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.children: list[tuple[subprocess.Popen[bytes], Path]] = []

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Path:
        log = self.workdir / f"{name}-{len(self.children)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        self.children.append((proc, log))
        return log

    def workers(self, module: str, env: dict[str, str], processes: int, threads: int) -> None:
        """`python -m dramatiq MODULE`; returns once every worker process says it is ready."""
        argv = [sys.executable, "-m", "dramatiq", module, "--processes", str(processes),
                "--threads", str(threads)]
        log = self.spawn("workers", argv, env)
        wait_for(lambda: log.read_text(errors="replace").count("ready for action") >= processes,
                 60, f"workers of {module} (see {log})", self.children[-1][0])

    def stop(self) -> None:
        for proc, _log in reversed(self.children):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)  # the session we created for it
        for proc, _log in reversed(self.children):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.children.clear()

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for(check: Any, timeout: float, what: str,
             proc: subprocess.Popen[bytes] | None = None, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited ({proc.returncode})")
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


def sleep_pids(marker: str) -> list[int]:
    """Host pids of `sleep 300.<marker>` processes (read from /proc, not from Kiln)."""
    found = []
    needle = f".{marker}".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(b"sleep\0") and needle in cmdline:
                found.append(int(entry.name))
    return found


def commandstats(r: redis.Redis) -> dict[str, int]:
    """Calls per command since the server started (INFO commandstats)."""
    return {name.removeprefix("cmdstat_"): int(v["calls"])
            for name, v in r.info("commandstats").items()}


def stats_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after
            if after.get(k, 0) - before.get(k, 0) > 0}


@contextlib.contextmanager
def workdir(base: Path | None = None) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="kiln-bench-", dir=base) as tmp:
        yield Path(tmp)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tree(root: int) -> tuple[set[int], dict[int, list[str]]]:
    """`root` and its live descendants, with each process's /proc stat fields."""
    parents: dict[int, int] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
            stats[int(entry.name)] = fields
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        kids = [p for p, parent in parents.items() if parent == pid and p not in tree]
        tree.update(kids)
        frontier += kids
    return tree, stats


def tree_cpu_s(root: int) -> float:
    """CPU seconds (user + system) used so far by `root` and its live descendants."""
    tree, stats = _tree(root)
    ticks = sum(int(stats[p][11]) + int(stats[p][12]) for p in tree if p in stats)
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_rss_bytes(root: int) -> tuple[int, int]:
    """Resident memory of `root` and its live descendants, and their thread count."""
    tree, stats = _tree(root)
    pages = sum(int(stats[p][21]) for p in tree if p in stats)
    threads = sum(int(stats[p][17]) for p in tree if p in stats)
    return pages * os.sysconf("SC_PAGE_SIZE"), threads
