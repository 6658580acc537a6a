"""Simulated stage work with the latencies of real work, shared by the simulated sandbox runtime
(bin/support/bench/sim.py) and generator (SimGenerator below), for the realistic benchmark
and the pipeline test that runs tens of builds on a few worker threads.

Latencies are log-uniform over the ranges real builds show (seconds): sandbox create 0.2-2,
code generation 20-120, dependency install 10-60, checks 2-30 (medians 0.6, 49, 24, 8),
multiplied by KILN_SIM_SCALE (default 1; tests use ~0.01). Each is a function of
KILN_SIM_SEED, the build's goal, the kind of work and the fix-loop iteration: the same goals
give the same work on every run.

Every piece of work is counted per job in Redis (`<prefix>:sim:work:<job_id>`, field
`<kind>|<iteration>`) and logged as a span (`<prefix>:sim:spans`), so a test can assert that
no work ran twice and a benchmark can add up work and waits.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from dramatiq.middleware import CurrentMessage

RANGES = {"create": (0.2, 2.0), "generate": (20.0, 120.0), "install": (10.0, 60.0),
          "checks": (2.0, 30.0)}
KINDS = tuple(RANGES)


def float_env(name: str, default: float) -> float:
    """A simulation knob from the environment (KILN_SIM_*): unset or empty is the default."""
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


def scale() -> float:
    return float_env("KILN_SIM_SCALE", 1.0)


def fixed() -> dict[str, float]:
    """KILN_SIM_SECONDS="install=30,generate=0.1": kinds that take exactly this long (not
    scaled), e.g. to hold every worker thread in one remote-waiting stage."""
    out = {}
    for item in os.environ.get("KILN_SIM_SECONDS", "").split(","):
        kind, _, value = item.partition("=")
        if kind.strip() in RANGES and value:
            out[kind.strip()] = float(value)
    return out


def mean_seconds(kind: str) -> float:
    """The expected value of `seconds(kind, ...)` (log-uniform: (hi - lo) / ln(hi / lo))."""
    if kind in fixed():
        return fixed()[kind]
    lo, hi = RANGES[kind]
    return (hi - lo) / math.log(hi / lo) * scale()


def seconds(kind: str, goal: str, iteration: int = 0) -> float:
    """How long one piece of work takes, scaled: log-uniform over its range."""
    if kind in fixed():
        return fixed()[kind]
    lo, hi = RANGES[kind]
    seed = int(float_env("KILN_SIM_SEED", 1.0))
    u = random.Random(f"{seed}|{goal}|{kind}|{iteration}").random()
    return round(lo * (hi / lo) ** u * scale(), 4)


def chance(kind: str, goal: str, iteration: int = 0) -> float:
    """A second, independent draw in [0, 1) for the same work (e.g. whether it loses its
    sandbox, against KILN_SIM_LOSS)."""
    seed = int(float_env("KILN_SIM_SEED", 1.0))
    return random.Random(f"{seed}|{goal}|{kind}|{iteration}|chance").random()


def current_iteration() -> int:
    """The fix-loop iteration of the stage message this thread runs (0 outside a stage)."""
    message = CurrentMessage.get_current_message()
    args = message.args if message else ()
    return int(args[2]) if len(args) > 2 else 0


class WorkLog:
    """Per-job work counts and spans in Redis: one pipelined round trip per piece of work."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.r = client
        self.prefix = prefix

    def counts_key(self, job_id: str) -> str:
        return f"{self.prefix}:sim:work:{job_id}"

    @property
    def spans_key(self) -> str:
        return f"{self.prefix}:sim:spans"

    @contextmanager
    def span(self, job_id: str, kind: str, iteration: int) -> Iterator[dict[str, str]]:
        """Count and time one piece of work; the body may set `outcome` (default ok)."""
        record = {"outcome": "ok"}
        started = time.time()
        try:
            yield record
        except BaseException:
            if record["outcome"] == "ok":
                record["outcome"] = "error"
            raise
        finally:
            pipe = self.r.pipeline(transaction=False)
            pipe.hincrby(self.counts_key(job_id), f"{kind}|{iteration}", 1)
            pipe.rpush(self.spans_key, json.dumps({
                "job_id": job_id, "kind": kind, "iteration": iteration, "start": started,
                "end": time.time(), "outcome": record["outcome"]}))
            pipe.execute()

    def counts(self, job_id: str) -> dict[str, int]:
        return {k: int(v) for k, v in self.r.hgetall(self.counts_key(job_id)).items()}

    def spans(self) -> list[dict]:
        return [json.loads(raw) for raw in self.r.lrange(self.spans_key, 0, -1)]


def manifest(goal: str, iteration: int) -> dict[str, str]:
    """The simulated app's kiln.json: its install and checks take their drawn time."""
    return {"install": f"sim install {seconds('install', goal, iteration)}",
            "checks": f"sim checks {seconds('checks', goal, iteration)}",
            "start": "sim serve {port}", "health": "/"}


class SimGenerator:
    """A code generator that takes as long as a model does and writes a tiny app whose install
    and checks are simulated too (KILN_GENERATOR=bin.support.bench.sim_work:SimGenerator). Like
    a model API call it blocks for its whole duration."""

    name = "sim"

    def __init__(self) -> None:
        from domain.redis_client import connect_bounded
        from domain.settings import Settings

        settings = Settings.from_env()
        self.work = WorkLog(connect_bounded(settings.redis_url, 256), settings.redis_prefix)

    def generate(self, goal: str, workspace: dict[str, str],
                 feedback: str | None) -> dict[str, str]:
        message = CurrentMessage.get_current_message()
        job_id = str(message.args[0]) if message else "unknown"
        iteration = current_iteration()
        with self.work.span(job_id, "generate", iteration):
            time.sleep(seconds("generate", goal, iteration))  # the model thinking
        return {"kiln.json": json.dumps(manifest(goal, iteration)),
                "app.py": f"# a simulated app for: {goal[:80]}\n",
                "tests/test_app.py": "# simulated checks\n"}
