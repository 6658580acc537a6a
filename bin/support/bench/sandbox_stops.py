"""How soon a local sandbox command stops when it must, in each isolation mode this host has
(bubblewrap when usable, the plain process session always):

- timeout: `run("sleep ...", timeout=0.5)` — how long past its 0.5 s the call returns, with
  every process of the command gone.
- cancel: a cancel check that turns true while `sleep ... & setsid sleep ... & wait` runs —
  from the flag until `run` has raised Cancelled and neither sleep (the `setsid` grandchild
  included) is left on the host.

Both are bounded by the runtime's 100 ms poll and its kill; the tests assert only that the
stop happens (tests/sandbox/test_local_run.py). The whole-build cancel is `bin/bench cancel`.
"""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path
from typing import Any

from actors.sandbox import isolation
from actors.sandbox.local import LocalRuntime
from actors.sandbox.local_sandbox import LocalSandbox
from bin.support.bench import common
from domain.errors import Cancelled

TIMEOUT_S = 0.5
CANCEL_AFTER_S = 0.3
_markers = itertools.count(100_000)


def _timeout_overrun(sb: LocalSandbox) -> float:
    marker = next(_markers)
    began = time.perf_counter()
    result = sb.run(f"sleep 300.{marker}", timeout=TIMEOUT_S)
    common.wait_for(lambda: not common.sleep_pids(str(marker)), 30, "the timed-out command",
                    interval=0.002)
    overrun = time.perf_counter() - began - TIMEOUT_S
    if not result.timed_out:
        raise RuntimeError(f"the command was not timed out: {result}")
    return overrun


def _cancel_to_gone(sb: LocalSandbox) -> float:
    a, b = next(_markers), next(_markers)
    flagged: list[float] = []
    timer = threading.Timer(CANCEL_AFTER_S, lambda: flagged.append(time.perf_counter()))
    timer.start()
    try:
        sb.run(f"sleep 300.{a} & setsid sleep 300.{b} & wait", timeout=60,
               cancel_check=lambda: bool(flagged))
    except Cancelled:
        pass
    else:
        raise RuntimeError("the command ended without being cancelled")
    finally:
        timer.cancel()
    common.wait_for(lambda: not common.sleep_pids(str(a)) and not common.sleep_pids(str(b)),
                    30, "the cancelled command's processes", interval=0.002)
    return time.perf_counter() - flagged[0]


def run(url: str, wd: Path, quick: bool) -> dict[str, Any]:
    samples = 8 if quick else 25
    modes = (["bwrap"] if isolation.bwrap_usable() else []) + ["session"]
    out: dict[str, Any] = {"samples": samples, "modes": modes}
    for mode in modes:
        runtime = LocalRuntime(wd / mode, None, use_bwrap=(mode == "bwrap"))
        sb = runtime.create("bench", {}, 600)
        try:
            overruns = [_timeout_overrun(sb) for _ in range(samples)]
            cancels = [_cancel_to_gone(sb) for _ in range(samples)]
        finally:
            sb.kill()
        out[mode] = {"timeout_overrun_ms": common.summary_ms(overruns),
                     "cancel_to_gone_ms": common.summary_ms(cancels)}
    return out
