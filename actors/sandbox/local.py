"""The local sandbox runtime (Kiln's default): one directory per sandbox under the sandbox root.

Its state lives on disk (state.json, pid files) and in the Redis registry, so any thread or
process on this host can reconnect to a sandbox and kill it. A local sandbox exists only on the
host that created it: multi-host deployments use the e2b runtime.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

from domain.errors import SandboxGone, TransientError
from domain.logs import get_logger

from . import cgroups, isolation, network, support
from .local_launch import Launcher
from .local_sandbox import LocalSandbox
from .local_teardown import destroy, read_cgroups
from .registry import SandboxRecord, SandboxRegistry, this_host

log = get_logger("kiln.sandbox")
_ID = re.compile(r"^local-[a-f0-9]{16}$")


class LocalRuntime:
    name = "local"

    def __init__(self, root: Path, registry: SandboxRegistry | None = None,
                 limits: isolation.Limits | None = None, use_bwrap: bool | None = None,
                 egress: str = "install", use_cgroups: bool = True) -> None:
        """`use_bwrap=None` probes bubblewrap once (tests force either mode); cgroups are used
        where `cgroups.detect()` finds them, unless `use_cgroups=False`.
        `egress`: KILN_SANDBOX_EGRESS (network.EGRESS_MODES)."""
        if egress not in network.EGRESS_MODES:
            raise ValueError(f"KILN_SANDBOX_EGRESS={egress!r}: expected one of "
                             f"{', '.join(network.EGRESS_MODES)}")
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.registry = registry
        self.limits = limits or isolation.Limits.from_env()
        self.use_bwrap = isolation.bwrap_usable() if use_bwrap is None else use_bwrap
        self.egress = egress
        self.cgroups = cgroups.detect() if use_cgroups else cgroups.Support({})
        if self.use_bwrap:
            support.detect()  # at start-up, so what the host lacks is logged before any build

    def create(self, job_id: str, metadata: dict[str, str], timeout_s: int) -> LocalSandbox:
        sandbox_id = f"local-{uuid.uuid4().hex[:16]}"
        directory = self.root / sandbox_id
        (directory / "workspace").mkdir(parents=True)
        (directory / "procs").mkdir()
        (directory / "logs").mkdir()
        (directory / "resolv.conf").write_text(network.RESOLV_CONF)
        now = time.time()
        state = {"sandbox_id": sandbox_id, "job_id": job_id, "metadata": dict(metadata),
                 "created_at": now, "expires_at": now + timeout_s, "host": this_host(),
                 "isolation": "bwrap" if self.use_bwrap else "session", "egress": self.egress}
        # Register before anything runs in it, so a crash right after create leaves a trace
        # the reaper can follow.
        if self.registry is not None:
            self.registry.register(SandboxRecord(
                sandbox_id=sandbox_id, job_id=job_id, runtime=self.name, host=state["host"],
                created_at=now, expires_at=state["expires_at"]))
        groups = cgroups.plan(self.cgroups, sandbox_id)
        (directory / "cgroups.json").write_text(json.dumps(groups))
        try:
            cgroups.create(groups, self.limits.sandbox_memory_bytes, self.limits.pids_max,
                           self.limits.cpus)
        except OSError as exc:
            destroy(directory, sandbox_id, self.registry)
            raise TransientError(f"could not create the sandbox's cgroups: {exc}") from exc
        tmp = directory / ".state.tmp"
        tmp.write_text(json.dumps(state))
        tmp.replace(directory / "state.json")
        log.info("sandbox_created", sandbox_id=sandbox_id, job_id=job_id,
                 isolation=state["isolation"], cgroups=sorted(groups))
        return self._sandbox(state)

    def connect(self, sandbox_id: str) -> LocalSandbox:
        state = self._state(sandbox_id)
        if state is None:
            raise SandboxGone(f"sandbox {sandbox_id} does not exist on this host")
        return self._sandbox(state)

    @staticmethod
    def _ours(state: dict) -> bool:
        # A sandbox root shared between hosts (one volume for several containers) shows other
        # hosts' sandboxes too: their processes are out of reach here, so they are not ours.
        return state.get("host", this_host()) == this_host()

    def kill(self, sandbox_id: str) -> bool:
        """Kill by id; harmless (False) for an unknown or already-dead id. A record that another
        host registered is left alone: only that host can end its processes."""
        record = self.registry.get(sandbox_id) if self.registry is not None else None
        if record is not None and record.host != this_host():
            log.warning("sandbox_kill_other_host", sandbox_id=sandbox_id, host=record.host)
            return False
        if not _ID.match(sandbox_id):  # not one of ours (or a path trick): nothing on disk
            if self.registry is not None:
                self.registry.remove(sandbox_id)
            return False
        return destroy(self.root / sandbox_id, sandbox_id, self.registry)

    def list_live(self) -> list[tuple[str, dict[str, str]]]:
        out: list[tuple[str, dict[str, str]]] = []
        for entry in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            state = self._state(entry.name)
            if state is not None:
                meta = dict(state.get("metadata") or {}) | {"job_id": state["job_id"]}
                out.append((entry.name, meta))
        return out

    def extend(self, sandbox_id: str, expires_at: float) -> None:
        """Push the sandbox's expiry (e.g. preview kept for an hour after READY)."""
        state = self._state(sandbox_id)
        if state is None:
            raise SandboxGone(f"sandbox {sandbox_id} is gone")
        state["expires_at"] = float(expires_at)
        path = self.root / sandbox_id / "state.json"
        tmp = path.with_name(".state.tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(path)
        if self.registry is not None:
            self.registry.extend(sandbox_id, expires_at)

    def _state(self, sandbox_id: str) -> dict | None:
        if not _ID.match(sandbox_id):
            return None
        try:
            state = json.loads((self.root / sandbox_id / "state.json").read_text())
        except (OSError, ValueError):
            return None
        return state if self._ours(state) else None

    def _sandbox(self, state: dict) -> LocalSandbox:
        sandbox_id = state["sandbox_id"]
        directory = self.root / sandbox_id
        launcher = Launcher(sandbox_id, directory, bwrap=state.get("isolation") == "bwrap",
                            limits=self.limits, egress_mode=state.get("egress", "none"),
                            cgroup_paths=read_cgroups(directory, sandbox_id))
        return LocalSandbox(sandbox_id, state["job_id"], launcher, self.registry)
