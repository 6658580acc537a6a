"""`bin/bench [--quick] [--only NAME ...] [--out PATH]`: run Kiln's benchmarks, print a table,
write JSON (default bench-results/bench-<UTC time>.json)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bin.support.bench import (
    admission,
    cancel,
    common,
    e2e,
    orchestration,
    realistic,
    report,
    sandbox_start,
    sandbox_stops,
    sse,
    status,
    threads,
)

FULL = {"processes": 2, "threads": 4, "flood": 2000, "rate": 20.0, "light_s": 10.0,
        "sample": 200, "idle": 40}
QUICK = {"processes": 2, "threads": 4, "flood": 1000, "rate": 20.0, "light_s": 4.0,
         "sample": 100, "idle": 15}


def _orchestration(url: str, wd: Path, quick: bool, args: argparse.Namespace) -> dict[str, Any]:
    cfg = dict(QUICK if quick else FULL)
    cfg.update({k: v for k, v in (("processes", args.processes), ("threads", args.threads),
                                   ("flood", args.jobs)) if v})
    return orchestration.run(url, wd, cfg)


BENCHMARKS = {"orchestration": _orchestration,
              "status": lambda url, wd, quick, _args: status.run(url, wd, quick),
              "sse": lambda url, wd, quick, _args: sse.run(url, wd, quick),
              "cancel": lambda url, wd, quick, _args: cancel.run(url, wd, quick),
              "e2e": lambda url, wd, quick, _args: e2e.run(url, wd, quick),
              "admission": lambda url, wd, quick, _args: admission.run(url, wd, quick),
              "sandbox": lambda url, wd, quick, _args: sandbox_start.run(url, wd, quick),
              "stops": lambda url, wd, quick, _args: sandbox_stops.run(url, wd, quick),
              "threads": lambda url, wd, quick, args: threads.run(
                  url, wd, quick, tuple(args.levels) if args.levels else None),
              "realistic": lambda url, wd, quick, args: realistic.run(
                  url, wd, quick, {"processes": args.processes, "threads": args.threads,
                                   "builds": args.jobs})}


def machine() -> dict[str, Any]:
    cpu, mem_kb = "", 0
    with contextlib.suppress(OSError):
        cpu = next((line.split(":", 1)[1].strip() for line in
                    Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "")
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {"cores": os.cpu_count(), "cpu": cpu, "memory_gb": round(mem_kb / 2**20, 1),
            "python": platform.python_version(), "kernel": platform.release()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bin/bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a ~1-2 minute run")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these")
    parser.add_argument("--out", type=Path, help="JSON results path")
    parser.add_argument("--processes", type=int, help="worker processes (default 2)")
    parser.add_argument("--threads", type=int, help="threads per worker process (default 4)")
    parser.add_argument("--jobs", type=int,
                        help="jobs in the orchestration flood / builds in the realistic run")
    parser.add_argument("--levels", type=int, nargs="+",
                        help="threads per process in the threads benchmark (64 256 512)")
    parser.add_argument("--markdown", type=Path, metavar="JSON",
                        help="print an earlier run's results as a Markdown table and exit")
    args = parser.parse_args(argv)
    if args.markdown:
        print(report.markdown(json.loads(args.markdown.read_text())))
        return 0
    started = datetime.now(UTC)
    results: dict[str, Any] = {
        "command": "bin/bench " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": started.isoformat(timespec="seconds"), "machine": machine(), "results": {}}
    names = args.only or list(BENCHMARKS)
    with common.workdir() as wd:
        for name in names:
            t0 = time.monotonic()
            print(f"bench: {name} ...", file=sys.stderr, flush=True)
            sub = wd / name
            sub.mkdir()
            with common.redis_server(sub) as url:
                try:
                    results["results"][name] = BENCHMARKS[name](url, sub, args.quick, args)
                except Exception as exc:  # one broken benchmark must not lose the others
                    results["results"][name] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"bench: {name} done in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    out = args.out or Path("bench-results") / f"bench-{started:%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(report.table(results))
    print(f"\nJSON: {out}")
    return 0
