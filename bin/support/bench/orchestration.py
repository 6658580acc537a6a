"""Orchestration: Kiln's pipeline (no-op sandbox and generator) against a raw Dramatiq chain of
as many no-op actors on one queue, same Redis, same worker processes and threads, same run.

Per side: throughput under a flood (all first messages sent at once), per-hop latency at a
light paced load, Redis commands per hop (INFO commandstats) and round trips per hop (a small
MONITORed burst). For Kiln also the idle start-request-to-`starting` latency (webstart.py).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bin.support.bench import common, webstart
from bin.support.bench.drivers import HOPS_PER_JOB, KilnDriver, RawDriver
from bin.support.bench.monitor import RoundTrips


def _wait_done(driver: Any, timeout: float) -> None:
    common.wait_for(lambda: driver.pending() <= 0, timeout, f"{driver.name} jobs to finish",
                    interval=0.02)


def flood(driver: Any, url: str, n: int, workers: int = 0) -> dict[str, Any]:
    r = common.client(url)
    batch = driver.prepare(n)
    reads = int(r.info("stats")["total_reads_processed"])
    before, polls = common.commandstats(r), driver.polls
    cpu = common.tree_cpu_s(workers) if workers else 0.0
    started = time.perf_counter()
    driver.fire(batch)
    _wait_done(driver, 120)
    seconds = time.perf_counter() - started
    cpu = common.tree_cpu_s(workers) - cpu if workers else 0.0
    delta = common.stats_delta(before, common.commandstats(r))
    # A round trip is one request read off a socket (a pipeline arrives in one read).
    reads = int(r.info("stats")["total_reads_processed"]) - reads - 3
    # Our own INFO and completion polls are not the system's work.
    own = driver.polls - polls
    commands = sum(delta.values()) - delta.get("info", 0) - own
    _rows, failed = driver.stage_times()
    return {"jobs": n, "seconds": round(seconds, 3), "jobs_per_s": round(n / seconds, 1),
            "commands_per_hop": round(commands / (n * HOPS_PER_JOB), 2),
            "round_trips_per_hop": round((reads - own) / (n * HOPS_PER_JOB), 2), "failed": failed,
            "worker_cpu_ms_per_hop": round(cpu * 1000 / (n * HOPS_PER_JOB), 3)}


def light(driver: Any, rate: float, seconds: float) -> dict[str, Any]:
    """Jobs started at `rate`/s for `seconds`; latency of each hop between stage actors."""
    driver.prepare(0)
    count = max(1, int(rate * seconds))
    t0 = time.perf_counter()
    for i in range(count):
        time.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
        driver.start_one()
    _wait_done(driver, 60)
    rows, failed = driver.stage_times()
    hops = [b - a for row in rows for a, b in zip(row, row[1:], strict=False)]
    return {"jobs": count, "rate": rate, "failed": failed, "hop_ms": common.summary_ms(hops)}


def round_trips(driver: Any, url: str, n: int) -> dict[str, Any]:
    batch = driver.prepare(n)
    counter = RoundTrips(url).start()
    time.sleep(0.2)
    polls = driver.polls
    driver.fire(batch)
    _wait_done(driver, 60)
    counter.stop()
    own = driver.polls - polls  # our completion polls
    hops = n * HOPS_PER_JOB
    # MONITOR cannot tell pipelined commands from round trips: the flood's socket reads count
    # those; this sample says which commands a hop costs (`lua:` ones run inside scripts).
    return {"jobs": n, "commands_per_hop": round((counter.commands - own) / hops, 2),
            "by_command_per_job": {k: round(v / n, 2)
                                   for k, v in counter.by_command.most_common(30)}}


def side(driver: Any, url: str, wd: Path, cfg: dict[str, Any]) -> dict[str, Any]:
    common.fresh(url)
    env = common.base_env(url, wd, **driver.env())
    with common.Processes(wd) as procs:
        procs.workers(driver.module, env, cfg["processes"], cfg["threads"])
        master = procs.children[-1][0].pid
        time.sleep(1.0)  # let every consumer settle into its idle poll
        out: dict[str, Any] = {"warmup": flood(driver, url, min(200, cfg["flood"]))}
        out["flood"] = flood(driver, url, cfg["flood"], master)
        out["light"] = light(driver, cfg["rate"], cfg["light_s"])
        out["redis"] = round_trips(driver, url, cfg["sample"])
        if isinstance(driver, KilnDriver):
            out["idle_start"] = webstart.idle_starts(procs, env, cfg["idle"])
    return out


def run(url: str, wd: Path, cfg: dict[str, Any]) -> dict[str, Any]:
    raw = side(RawDriver(url), url, wd, cfg)
    kiln = side(KilnDriver(url), url, wd, cfg)
    ratios = {
        "throughput": round(kiln["flood"]["jobs_per_s"] / raw["flood"]["jobs_per_s"], 3),
        "light_hop_p50": round(kiln["light"]["hop_ms"]["p50"] / raw["light"]["hop_ms"]["p50"], 3),
    }
    cpu = [raw["flood"]["worker_cpu_ms_per_hop"], kiln["flood"]["worker_cpu_ms_per_hop"]]
    return {"config": cfg, "raw": raw, "kiln": kiln, "ratios": ratios, "cpu_ms_per_hop": cpu}
