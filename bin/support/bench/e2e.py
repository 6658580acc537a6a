"""End to end: POST start -> the preview serving (HTTP 200 at the job's preview URL), a local
build with the template generator on real workers and local sandboxes. Median of a few."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from bin.support.bench import buildstack, common
from domain.status import STAGES, Status
from web.preview.targets import fetch

_ORDER = (*STAGES, Status.READY)


def run(url: str, wd: Path, quick: bool) -> dict[str, Any]:
    samples = 3 if quick else 7
    totals, failed = [], 0
    spent: dict[str, list[float]] = {}
    with buildstack.stack(url, wd) as kiln:
        for _ in range(samples):
            job_id, sent = kiln.start()
            job = kiln.wait(job_id, lambda j: j.terminal, 120)
            if not job.preview_upstream:
                failed += 1
                continue
            while fetch(job.preview_upstream, timeout=2).status_code != 200:
                time.sleep(0.01)
            totals.append(time.time() - sent)
            marks = [sent] + [job.timestamps[s.value] for s in _ORDER]
            for stage, a, b in zip(_ORDER, marks, marks[1:], strict=False):
                spent.setdefault(stage.value, []).append(b - a)
    return {"samples": samples, "failed": failed,
            "median_s": round(statistics.median(totals), 3) if totals else None,
            "start_to_preview_ms": common.summary_ms(totals),
            # median time from the previous mark (POST, then each stage entry) to this one
            "median_ms_to_reach": {k: round(statistics.median(v) * 1000, 1)
                                   for k, v in spent.items()}}
