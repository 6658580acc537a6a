"""Sandbox start-up cost, the recipe before containment against today's, in the same run and
alternating round by round (so machine load hits both alike). Both go through the same
`LocalSandbox` code; "before" swaps in the command line the runtime used until containment
(bwrap on the host network with root's capabilities, no cgroups, the preview on a host port).

- app ready: from launching the template app's server until its health check answers 200
  (`start_background`, `preview_url`, `probe`). Now: cgroups entered, a network namespace of
  its own, the socket forwarder, the probe through the socket.
- one command (`run("true")`) from launch to exit: before, now offline, now with egress
  (slirp4netns and the nft table set up while bwrap waits).
- create and teardown of a sandbox, now including its cgroups.

Needs bubblewrap; the egress figure needs slirp4netns/nft (else it is left out).
"""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from actors.generators.template import TemplateGenerator
from actors.sandbox import isolation, paths, procs, support
from actors.sandbox.local import LocalRuntime
from actors.sandbox.local_launch import CMD_MARKER, Launched, Launcher
from actors.sandbox.local_sandbox import LocalSandbox
from actors.sandbox.probe import PROBE_ERRORS
from actors.workspace import read_manifest
from bin.support.bench import common

GOAL = "a todo app with due dates"


class BeforeLauncher(Launcher):
    """The local runtime's launch as it was before containment."""

    @property
    def previews_isolated(self) -> bool:
        return False

    def entry(self) -> list[str]:
        return []

    def launch(self, command: str, cwd: str, env: dict[str, str] | None, name: str,
               stdout: object, foreground: bool, egress: bool = False) -> Launched:
        host_cwd = paths.safe_path(self.workspace, cwd)
        rel = host_cwd.relative_to(self.workspace.resolve()).as_posix()
        inside = isolation.INSIDE_WORKSPACE + ("" if rel == "." else f"/{rel}")
        argv = isolation.bwrap_argv(self.workspace, inside, die_with_parent=foreground,
                                    share_net=True)
        for flag in isolation.NO_PRIVILEGE:
            argv.remove(flag)
        argv += isolation.limit_prefix(self.limits) + ["/bin/sh", "-c", command]
        run_env = isolation.sandbox_env(self.sandbox_id, isolation.INSIDE_WORKSPACE,
                                        dict(env or {}) | {CMD_MARKER: name})
        proc = subprocess.Popen(argv, cwd=self.workspace, env=run_env, stdin=subprocess.DEVNULL,
                                stdout=stdout, stderr=subprocess.STDOUT,  # type: ignore[arg-type]
                                start_new_session=True, close_fds=True)
        procs.record(self.directory / "procs", name, proc.pid)
        return Launched(proc)


def _until_200(probe: Any, deadline_s: float = 30.0) -> None:
    end = time.monotonic() + deadline_s
    while True:
        with contextlib.suppress(*PROBE_ERRORS):
            if probe() == 200:
                return
        if time.monotonic() > end:
            raise TimeoutError("the app did not answer")
        time.sleep(0.002)


def _app_ready(sb: LocalSandbox, start: str, health: str) -> float:
    t0 = time.perf_counter()
    port = sb.preview_port()
    sb.start_background(start.replace("{port}", str(port)))
    url = sb.preview_url(port)
    _until_200(lambda: sb.probe(url + health))
    return time.perf_counter() - t0


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(url: str, wd: Path, quick: bool) -> dict[str, Any]:
    if not isolation.bwrap_usable():
        return {"error": "bubblewrap is not usable here: nothing to compare"}
    rounds = 8 if quick else 25
    files = TemplateGenerator().generate(GOAL, {}, None)
    manifest = read_manifest(files["kiln.json"])
    egress = support.detect().egress
    now = LocalRuntime(wd / "now", None, use_bwrap=True)
    before = LocalRuntime(wd / "before", None, use_bwrap=True, use_cgroups=False)
    s: dict[str, list[float]] = {k: [] for k in (
        "before_ready", "now_ready", "before_true", "now_true", "now_true_egress",
        "before_create", "now_create", "before_teardown", "now_teardown")}
    for i in range(rounds):
        pair = (("before", before), ("now", now))
        for label, runtime in pair if i % 2 == 0 else pair[::-1]:  # neither always goes first
            t0 = time.perf_counter()
            sb = runtime.create("bench", {}, 300)
            if label == "before":
                sb = LocalSandbox(sb.id, sb.job_id, BeforeLauncher(
                    sb.id, sb.directory, bwrap=True, limits=sb.limits), None)
            s[f"{label}_create"].append(time.perf_counter() - t0)
            sb.write_files(files)
            s[f"{label}_ready"].append(_app_ready(sb, manifest.start, manifest.health))
            s[f"{label}_true"].append(_timed(lambda sb=sb: sb.run("true", timeout=30)))
            if label == "now" and egress:
                s["now_true_egress"].append(_timed(lambda sb=sb: sb.run(
                    "true", timeout=30, egress=True)))
            s[f"{label}_teardown"].append(_timed(sb.kill))
    out: dict[str, Any] = {"rounds": rounds, "egress_measured": egress}
    out.update({f"{k}_ms": common.summary_ms(v) for k, v in s.items() if v})
    out["lifecycle_p50_ms"] = {"before": [out["before_create_ms"]["p50"],
                                          out["before_teardown_ms"]["p50"]],
                               "now": [out["now_create_ms"]["p50"],
                                       out["now_teardown_ms"]["p50"]]}
    out["ratios"] = {"app_ready_p50": _ratio(s["now_ready"], s["before_ready"]),
                     "command_p50": _ratio(s["now_true"], s["before_true"])}
    if egress:
        out["ratios"]["command_egress_p50"] = _ratio(s["now_true_egress"], s["before_true"])
    out["ratios"]["pair"] = [out["ratios"]["app_ready_p50"], out["ratios"]["command_p50"]]
    return out


def _ratio(now: list[float], before: list[float]) -> float:
    return round(statistics.median(now) / statistics.median(before), 2)
