"""The printed table: one row per figure, with its target and whether it was met."""

from __future__ import annotations

import contextlib
from typing import Any


def _get(data: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


# (benchmark, label, path, target text, check(value) -> bool | None)
ROWS: list[tuple[str, str, str, str, Any]] = [
    ("orchestration", "raw chain jobs/s (flood)", "raw.flood.jobs_per_s", "", None),
    ("orchestration", "Kiln jobs/s (flood)", "kiln.flood.jobs_per_s", "", None),
    ("orchestration", "throughput ratio Kiln/raw", "ratios.throughput", ">= 0.8",
     lambda v: v >= 0.8),
    ("orchestration", "raw hop p50 / p99 ms (light)", "raw.light.hop_ms", "", None),
    ("orchestration", "Kiln hop p50 / p99 ms (light)", "kiln.light.hop_ms", "", None),
    ("orchestration", "light hop p50 ratio Kiln/raw", "ratios.light_hop_p50", "<= 1.2",
     lambda v: v <= 1.2),
    ("orchestration", "idle start -> starting p50 / p99 ms",
     "kiln.idle_start.start_to_starting_ms", "p99 < 150", lambda v: v["p99"] < 150),
    ("orchestration", "raw round trips / commands per hop", "raw.flood", "", None),
    ("orchestration", "Kiln round trips / commands per hop", "kiln.flood", "", None),
    ("orchestration", "raw / Kiln worker CPU ms per hop", "cpu_ms_per_hop", "", None),
    ("status", "Kiln req/s, p50 / p99 ms @50", "c50.kiln", "", None),
    ("status", "bare req/s, p50 / p99 ms @50", "c50.bare", "", None),
    ("status", "Kiln req/s, p50 / p99 ms @200", "c200.kiln", "", None),
    ("status", "bare req/s, p50 / p99 ms @200", "c200.bare", "", None),
    ("status", "Kiln @200 polling every 0.5 s", "paced200.kiln", "p99 < 20",
     lambda v: v["latency_ms"]["p99"] < 20),
    ("status", "bare @200 polling every 0.5 s", "paced200.bare", "", None),
    ("status", "req/s ratio Kiln/bare @50 / @200", "ratios", ">= 0.8",
     lambda v: min(v) >= 0.8),
    ("status", "server CPU ms per request, Kiln / bare @50", "cpu_ms_per_request", "", None),
    ("sse", "1000 subscribers: transition -> delivery p50 / p99 ms",
     "transition_to_delivery_ms", "p99 < 100", lambda v: v["p99"] < 100),
    ("cancel", "cancel -> sandbox gone p50 / p99 ms", "cancel_to_gone_ms", "p99 < 1000",
     lambda v: v["p99"] < 1000),
    ("e2e", "POST start -> preview serving, median s", "median_s", "< 3", lambda v: v < 3),
    ("sandbox", "app ready p50 / p99 ms, before containment", "before_ready_ms", "", None),
    ("sandbox", "app ready p50 / p99 ms, contained", "now_ready_ms", "", None),
    ("sandbox", "one command p50 / p99 ms, before", "before_true_ms", "", None),
    ("sandbox", "one command p50 / p99 ms, contained offline", "now_true_ms", "", None),
    ("sandbox", "one command p50 / p99 ms, contained + egress", "now_true_egress_ms", "", None),
    ("sandbox", "create / teardown p50 ms, before", "lifecycle_p50_ms.before", "", None),
    ("sandbox", "create / teardown p50 ms, contained", "lifecycle_p50_ms.now", "", None),
    ("sandbox", "ratio contained/before: app ready, command", "ratios.pair", "", None),
    *[("stops", f"{mode}: timeout overrun p50 / p99 ms",
       f"{mode}.timeout_overrun_ms", "p99 < 1000", lambda v: v["p99"] < 1000)
      for mode in ("bwrap", "session")],
    *[("stops", f"{mode}: cancel -> processes gone p50 / p99 ms",
       f"{mode}.cancel_to_gone_ms", "p99 < 1000", lambda v: v["p99"] < 1000)
      for mode in ("bwrap", "session")],
    ("admission", "start p50 / p99 ms, empty queue", "empty_queue_ms", "", None),
    ("admission", "start p50 / p99 ms, 10,000 queued", "queued_10k_ms", "", None),
    ("admission", "admit() p50 / p99 ms, 1,000 waiting on their cap", "admit_1k_ms", "", None),
    ("admission", "admit() p50 / p99 ms, 10,000 waiting on their cap", "admit_10k_ms", "",
     None),
    ("admission", "admit() p50 ratio, 10,000 / 1,000 blocked", "admit_p50_ratio", "<= 1.5",
     lambda v: v <= 1.5),
    *[("threads", f"{n} threads: RSS MB / KB per waiting stage", f"levels.{n}.rss_pair", "",
        None) for n in (64, 256, 512)],
    *[("threads", f"{n} threads: worker CPU % / Redis cmds/s while waiting",
       f"levels.{n}.cost_pair", "", None) for n in (64, 256, 512)],
    *[("threads", f"{n} threads: cancel -> sandbox gone p50 / p99 ms",
       f"levels.{n}.cancel_to_gone_ms", "p99 < 1000", lambda v: v["p99"] < 1000)
      for n in (64, 256, 512)],
    *[("threads", f"{n} threads: builds/s actual / ideal", f"levels.{n}.builds_per_s", "",
       None) for n in (64, 256, 512)],
    *[("threads", f"{n} threads: s until all wait (ramp)", f"levels.{n}.all_waiting_after_s",
       "", None) for n in (64, 256, 512)],
    ("realistic", "builds/hour at saturation, actual / ideal", "table.builds_per_hour", "",
     None),
    ("realistic", "orchestration + queueing overhead of stage work", "overhead", "< 0.05",
     lambda v: v < 0.05),
    ("realistic", "queue wait p50 / p99 s (scaled)", "table.queue_wait_p50_p99", "", None),
    ("realistic", "ETA error, finish p50 / p90", "table.eta_finish_p50_p90", "p50 < 0.25",
     lambda v: v[0] < 0.25),
    ("realistic", "ETA error, start p50 / p90 (of time to finish)", "table.eta_start_p50_p90",
     "", None),
    ("realistic", "wasted stage-seconds (no crashes)", "wasted_stage_s", "0", lambda v: v == 0),
    ("realistic", "re-drives / sandbox replacements", "redrive_pair", "0 / 0",
     lambda v: v == [0, 0]),
    ("realistic", "worker KB per in-flight build / Redis KB per build", "memory_pair", "",
     None),
]


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        if "requests_per_s" in value:
            lat = value["latency_ms"]
            return f"{value['requests_per_s']:.0f} req/s, {lat['p50']} / {lat['p99']}"
        if "round_trips_per_hop" in value:
            return f"{value['round_trips_per_hop']} / {value['commands_per_hop']}"
        if "p50" in value:
            return f"{value['p50']} / {value['p99']}"
    if isinstance(value, list | tuple):
        return " / ".join(str(v) for v in value)
    return str(value)


def table(results: dict[str, Any]) -> str:
    lines = [f"{'benchmark':<14}{'figure':<52}{'value':<30}{'target':<11}ok"]
    res = results["results"]
    for bench, label, path, target, check in ROWS:
        if bench not in res:
            continue
        if "error" in res[bench]:
            if not lines[-1].startswith(bench):
                lines.append(f"{bench:<14}ERROR: {res[bench]['error'][:200]}")
            continue
        value = _get(res[bench], path)
        ok = ""
        if check and value is not None:
            try:
                ok = "yes" if check(value) else "NO"
            except (TypeError, KeyError):
                ok = "?"
        lines.append(f"{bench:<14}{label:<52}{_fmt(value):<30}{target:<11}{ok}")
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    """The same rows as a Markdown table (for the README's Performance section)."""
    lines = ["| benchmark | figure | value | target | met |", "|---|---|---|---|---|"]
    res = results["results"]
    for bench, label, path, target, check in ROWS:
        if bench not in res or "error" in res[bench]:
            continue
        value = _get(res[bench], path)
        ok = ""
        if check and value is not None:
            with contextlib.suppress(TypeError, KeyError):
                ok = "yes" if check(value) else "**no**"
        lines.append(f"| {bench} | {label} | {_fmt(value)} | {target} | {ok} |")
    return "\n".join(lines)
