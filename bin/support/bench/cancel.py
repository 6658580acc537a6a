"""Cancel latency mid-stage: a build whose install step runs a long command (local sandbox,
bubblewrap when present); POST cancel while it runs, until none of the sandbox's processes
(the command and a `setsid` grandchild) is left on the host. p50/p99."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from bin.support.bench import buildstack, common
from domain.status import Status

_MARKER = re.compile(r"sleep 300\.(\d{6})")


def run(url: str, wd: Path, quick: bool) -> dict[str, Any]:
    samples = 5 if quick else 12
    latencies = []
    with buildstack.stack(url, wd, KILN_GENERATOR="bin.support.bench.noop:LongInstall") as kiln:
        for _ in range(samples):
            job_id, _sent = kiln.start()
            kiln.wait(job_id, lambda j: j.status == Status.DEPS, 60)
            manifest = kiln.store.files(job_id).get("kiln.json", "")
            marker = _MARKER.search(manifest).group(1)  # type: ignore[union-attr]
            common.wait_for(lambda m=marker: len(common.sleep_pids(m)) >= 2, 30,
                            "the install command")
            started = time.perf_counter()
            kiln.http.post(f"/api/generation/{job_id}/cancel").raise_for_status()
            common.wait_for(lambda m=marker: not common.sleep_pids(m), 30, "the sandbox to die",
                            interval=0.002)
            latencies.append(time.perf_counter() - started)
    return {"samples": samples, "cancel_to_gone_ms": common.summary_ms(latencies)}
