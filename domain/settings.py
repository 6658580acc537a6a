"""Every environment variable Kiln reads, in one place, with its default.

Configuration is environment variables only (DESIGN.md). `Settings.from_env()` is read once per
process; tests build their own `Settings` instead of mutating the environment.
"""

from __future__ import annotations

import functools
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


def _str(name: str, default: str) -> str:
    raw = os.environ.get(name)
    return raw if raw not in (None, "") else default


class ConfigError(ValueError):
    """A setting a process cannot run with; the message says which and what to do."""


@dataclass(frozen=True)
class Settings:
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "kiln"
    # Dramatiq's queues live in this database of REDIS_URL's server, apart from Kiln's data
    # (docs/operations.md, "Redis layout"): its maintenance scans them with KEYS.
    broker_db: int = 1
    # The name of the worker host this process runs on: what it records on sandboxes and
    # previews only it can reach, and the name of its own stage queue (docs/previews.md).
    # Unset: the machine's host name. Several workers on one machine as separate hosts (tests,
    # containers sharing a network namespace) each get their own.
    host_id: str = ""
    # A worker host's heartbeat lasts this long: a host silent for longer is taken for lost and
    # its jobs resume on other hosts (docs/reliability.md, "Several worker hosts").
    host_ttl_s: float = 30.0
    sandbox: str = "local"  # local | e2b
    # Public egress of local sandbox commands: none | install (dependency installs only) | open.
    sandbox_egress: str = "install"
    # Run non-template generators' code without bubblewrap (trusted code only; see docs/sandbox.md)
    allow_unisolated: bool = False
    generator: str = "template"  # template | anthropic
    sandbox_root: Path = field(default_factory=lambda: Path(".kiln/sandboxes").resolve())
    jwt_secret: str = ""  # required by the web app (web/auth.py: check_secret)
    metrics_token: str = ""  # set: /metrics wants it as a bearer token; unset: /metrics is open
    preview_ttl_s: int = 3600
    # Previews through Kiln (docs/previews.md): the origin they are served on ("" = not
    # served), how long a signed link and the cookie it sets last, the largest request body.
    preview_origin: str = ""
    preview_link_ttl_s: int = 3600
    preview_session_ttl_s: int = 43_200
    preview_max_body_bytes: int = 32 * 1024 * 1024
    # A failed wake of an expired preview is shown for this long; a visit after it retries.
    wake_retry_s: int = 30
    # Preview gateways (docs/previews.md, web/gateway/): the secret the web tier signs requests
    # to other hosts' gateways with ("" = none used; a gateway requires it), where this host's
    # gateway listens, and the URL other hosts reach it at ("" = derived from the bind address).
    preview_gateway_secret: str = ""
    preview_gateway_bind: str = "127.0.0.1:8100"
    preview_gateway_url: str = ""
    # Dramatiq broker crash recovery (see README "Crash recovery"): lower = faster recovery of a
    # dead worker's messages, but a frozen-yet-alive worker loses its messages sooner.
    heartbeat_timeout_ms: int = 15_000
    maintenance_chance: int = 100_000
    max_deliveries: int = 5
    max_retries: int = 2
    idle_poll_ms: int = 100
    preview_wait_s: float = 15.0
    # A cancelled job's sandbox still alive this long after the cancel is killed by the reaper.
    cancel_hard_deadline_s: float = 3.0
    stage_time_limit_s: int = 300
    # The watchdog's deadline for a running stage is its time limit plus this grace.
    watchdog_grace_s: int = 60
    # A live build's sandbox lease (0: twice the watchdog's deadline), renewed by progress.
    sandbox_lease_s: int = 0
    max_sandbox_replacements: int = 3
    command_timeout_s: int = 240
    global_sandbox_cap: int = 20
    queue_cap: int = 100
    anthropic_model: str = "claude-sonnet-4-5"
    log_format: str = "auto"  # auto | json | console

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            redis_url=_str("REDIS_URL", cls.redis_url),
            redis_prefix=_str("KILN_REDIS_PREFIX", cls.redis_prefix),
            broker_db=_int("KILN_BROKER_DB", cls.broker_db),
            host_id=_str("KILN_HOST_ID", socket.gethostname()),
            host_ttl_s=_float("KILN_HOST_TTL_S", cls.host_ttl_s),
            sandbox=_str("KILN_SANDBOX", cls.sandbox),
            sandbox_egress=_str("KILN_SANDBOX_EGRESS", cls.sandbox_egress),
            allow_unisolated=_str("KILN_ALLOW_UNISOLATED", "0") == "1",
            generator=_str("KILN_GENERATOR", cls.generator),
            sandbox_root=Path(_str("KILN_SANDBOX_ROOT", ".kiln/sandboxes")).resolve(),
            jwt_secret=_str("KILN_JWT_SECRET", cls.jwt_secret),
            metrics_token=_str("KILN_METRICS_TOKEN", cls.metrics_token),
            preview_ttl_s=_int("KILN_PREVIEW_TTL_S", cls.preview_ttl_s),
            preview_origin=_str("KILN_PREVIEW_ORIGIN", cls.preview_origin),
            preview_link_ttl_s=_int("KILN_PREVIEW_LINK_TTL_S", cls.preview_link_ttl_s),
            preview_session_ttl_s=_int("KILN_PREVIEW_SESSION_TTL_S", cls.preview_session_ttl_s),
            preview_max_body_bytes=_int("KILN_PREVIEW_MAX_BODY_BYTES",
                                        cls.preview_max_body_bytes),
            wake_retry_s=_int("KILN_WAKE_RETRY_S", cls.wake_retry_s),
            preview_gateway_secret=_str("KILN_PREVIEW_GATEWAY_SECRET",
                                        cls.preview_gateway_secret),
            preview_gateway_bind=_str("KILN_PREVIEW_GATEWAY_BIND", cls.preview_gateway_bind),
            preview_gateway_url=_str("KILN_PREVIEW_GATEWAY_URL", cls.preview_gateway_url),
            heartbeat_timeout_ms=_int("KILN_HEARTBEAT_TIMEOUT_MS", cls.heartbeat_timeout_ms),
            maintenance_chance=_int("KILN_MAINTENANCE_CHANCE", cls.maintenance_chance),
            max_deliveries=_int("KILN_MAX_DELIVERIES", cls.max_deliveries),
            max_retries=_int("KILN_MAX_RETRIES", cls.max_retries),
            idle_poll_ms=_int("KILN_IDLE_POLL_MS", cls.idle_poll_ms),
            preview_wait_s=_float("KILN_PREVIEW_WAIT_S", cls.preview_wait_s),
            cancel_hard_deadline_s=_float("KILN_CANCEL_HARD_DEADLINE_S",
                                          cls.cancel_hard_deadline_s),
            stage_time_limit_s=_int("KILN_STAGE_TIME_LIMIT_S", cls.stage_time_limit_s),
            watchdog_grace_s=_int("KILN_WATCHDOG_GRACE_S", cls.watchdog_grace_s),
            sandbox_lease_s=_int("KILN_SANDBOX_LEASE_S", cls.sandbox_lease_s),
            max_sandbox_replacements=_int("KILN_MAX_SANDBOX_REPLACEMENTS",
                                          cls.max_sandbox_replacements),
            command_timeout_s=_int("KILN_COMMAND_TIMEOUT_S", cls.command_timeout_s),
            global_sandbox_cap=_int("KILN_GLOBAL_SANDBOX_CAP", cls.global_sandbox_cap),
            queue_cap=_int("KILN_QUEUE_CAP", cls.queue_cap),
            anthropic_model=_str("KILN_ANTHROPIC_MODEL", cls.anthropic_model),
            log_format=_str("KILN_LOG_FORMAT", cls.log_format),
        )


    @property
    def stage_deadline_s(self) -> int:
        """How long a stage may run (entry -> hand-off) before the watchdog looks at it."""
        return self.stage_time_limit_s + self.watchdog_grace_s

    @property
    def lease_s(self) -> int:
        """A live build's sandbox lease: no progress for this long and the reaper may take it.
        Twice the deadline by default, so the watchdog always looks first."""
        return self.sandbox_lease_s or 2 * self.stage_deadline_s


# Names of environment variables that hold secrets: never logged, stored or passed to sandboxes.
SECRET_ENV_MARKERS = ("KEY", "SECRET", "TOKEN", "PASSWORD", "CREDENTIAL", "AUTH")


@functools.lru_cache(maxsize=4096)  # asked for every key of every log line
def is_secret_env(name: str) -> bool:
    upper = name.upper()
    return any(marker in upper for marker in SECRET_ENV_MARKERS) or upper == "REDIS_URL"
