"""Every sandbox Kiln creates is written to one Redis hash, so any process (a worker on another
thread or host, the reaper, an operator tool) can find it and kill it.

Key: `Keys(prefix).sandboxes()`; field: sandbox id; value: JSON
{sandbox_id, job_id, runtime, host, created_at, expires_at}.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from domain import preview
from domain.keys import Keys

if TYPE_CHECKING:  # redis is slow to import; local-runtime tools may not need it
    import redis


# The host name recorded for sandboxes created here (a local sandbox lives only here); the
# same name its previews are recorded under (domain/preview.py).
this_host = preview.this_host


@dataclass(frozen=True)
class SandboxRecord:
    sandbox_id: str
    job_id: str
    runtime: str
    host: str
    created_at: float
    expires_at: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str) -> SandboxRecord:
        data = json.loads(raw)
        return cls(
            sandbox_id=str(data["sandbox_id"]),
            job_id=str(data["job_id"]),
            runtime=str(data["runtime"]),
            host=str(data.get("host", "")),
            created_at=float(data["created_at"]),
            expires_at=float(data["expires_at"]),
        )


class SandboxRegistry:
    """The Redis index of live sandboxes. Runtimes register on create and remove on kill."""

    def __init__(self, client: redis.Redis, prefix: str = "kiln") -> None:
        self._r = client
        self.key = Keys(prefix).sandboxes()

    def register(self, record: SandboxRecord) -> None:
        self._r.hset(self.key, record.sandbox_id, record.to_json())

    def get(self, sandbox_id: str) -> SandboxRecord | None:
        raw = self._r.hget(self.key, sandbox_id)
        return self._decode(raw)

    def remove(self, sandbox_id: str) -> bool:
        return bool(self._r.hdel(self.key, sandbox_id))

    def all(self) -> list[SandboxRecord]:
        records = (self._decode(raw) for raw in self._r.hvals(self.key))
        return sorted((rec for rec in records if rec), key=lambda rec: rec.created_at)

    def for_job(self, job_id: str) -> list[SandboxRecord]:
        return [rec for rec in self.all() if rec.job_id == job_id]

    def extend(self, sandbox_id: str, expires_at: float) -> bool:
        """Move a sandbox's expiry (e.g. to the preview expiry once the job is READY)."""
        record = self.get(sandbox_id)
        if record is None:
            return False
        data = asdict(record) | {"expires_at": float(expires_at)}
        self.register(SandboxRecord(**data))
        return True

    @staticmethod
    def _decode(raw: object) -> SandboxRecord | None:
        if raw is None:
            return None
        if isinstance(raw, bytes):
            raw = raw.decode()
        try:
            return SandboxRecord.from_json(str(raw))
        except (ValueError, KeyError, TypeError):
            # A corrupt entry must not break the reaper's whole sweep.
            return None
