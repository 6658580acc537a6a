"""Gates in Redis: one solidification gate per project and build version, at most one pending
gate per project. Creation and resolution are single Lua scripts, so two concurrent
"preview viewed" calls create exactly one gate and a gate is resolved exactly once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from domain.clock import Clock
from domain.gates import GATE_PROMPT, GateDecision, GateStatus, GateType
from domain.ids import new_id
from domain.keys import Keys

# KEYS: 1 by_version, 2 gate, 3 project_gates, 4 pending, 5 the pending gate the caller read
# (absent when none). ARGV: gate_id, now, that pending gate's id ('' for none), field pairs...
# Returns {1, gate_id} (created), {0, existing gate_id}, or {-1, pending} when the pending gate
# changed since the caller read it (it reads again: every key a script touches is declared).
_CREATE = """
local existing = redis.call('GET', KEYS[1])
if existing then return {0, existing} end
local gate_id, now = ARGV[1], ARGV[2]
local old = redis.call('GET', KEYS[4]) or ''
if old ~= ARGV[3] then return {-1, old} end
redis.call('SET', KEYS[1], gate_id)
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[2], unpack(fields))
redis.call('ZADD', KEYS[3], now, gate_id)
-- A newer build's gate supersedes an older pending one: one pending gate per project.
if old ~= '' then
  redis.call('HSET', KEYS[5], 'status', 'resolved', 'resolution', 'superseded',
             'resolved_at', now, 'superseded_by', gate_id)
end
redis.call('SET', KEYS[4], gate_id)
return {1, gate_id}
"""

# KEYS: gate, pending. ARGV: gate_id, decision, now.
_RESOLVE = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if status ~= 'pending' then return 'resolved' end
redis.call('HSET', KEYS[1], 'status', 'resolved', 'decision', ARGV[2], 'resolution', 'decided',
           'resolved_at', ARGV[3])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 'ok'
"""

_FLOATS = ("created_at", "resolved_at")


@dataclass(frozen=True)
class GateCreate:
    gate_id: str
    created: bool


def _decode(raw: dict[str, str]) -> dict[str, Any]:
    gate: dict[str, Any] = dict(raw)
    for key in _FLOATS:
        gate[key] = float(raw[key]) if raw.get(key) else None
    gate.setdefault("decision", None)
    return gate


class GateStore:
    """Create, list, read and resolve a project's gates."""

    def __init__(self, client: redis.Redis, prefix: str = "kiln", clock: Clock | None = None
                 ) -> None:
        self.redis = client
        self.keys = Keys(prefix)
        self.prefix = prefix
        self.clock = clock or Clock()
        self._create = client.register_script(_CREATE)
        self._resolve = client.register_script(_RESOLVE)

    def create(self, project_id: str, user_id: str, job_id: str, build_version: str
               ) -> GateCreate:
        """The project's gate for this build version; created only by the first caller."""
        gate_id = new_id()
        now = repr(self.clock.now())
        fields = {"gate_id": gate_id, "project_id": project_id, "user_id": user_id,
                  "job_id": job_id, "build_version": build_version,
                  "type": GateType.SOLIDIFICATION.value, "status": GateStatus.PENDING.value,
                  "prompt": GATE_PROMPT, "created_at": now}
        flat = [v for pair in fields.items() for v in pair]
        keys = [self.keys.gate_by_version(project_id, build_version), self.keys.gate(gate_id),
                self.keys.project_gates(project_id), self.keys.pending_gate(project_id)]
        pending = self.redis.get(keys[3]) or ""
        while True:  # again only when another gate became pending in between (rare)
            superseded = [self.keys.gate(pending)] if pending else []
            created, gid = self._create(keys=keys + superseded,
                                        args=[gate_id, now, pending, *flat])
            if int(created) >= 0:
                return GateCreate(gid, bool(int(created)))
            pending = gid

    def get(self, gate_id: str) -> dict[str, Any] | None:
        raw = self.redis.hgetall(self.keys.gate(gate_id))
        return _decode(raw) if raw else None

    def list(self, project_id: str) -> list[dict[str, Any]]:
        """The project's gates, oldest first."""
        ids = self.redis.zrange(self.keys.project_gates(project_id), 0, -1)
        pipe = self.redis.pipeline(transaction=False)
        for gate_id in ids:
            pipe.hgetall(self.keys.gate(gate_id))
        return [_decode(raw) for raw in pipe.execute() if raw]

    def pending(self, project_id: str) -> dict[str, Any] | None:
        gate_id = self.redis.get(self.keys.pending_gate(project_id))
        return self.get(gate_id) if gate_id else None

    def pending_id(self, project_id: str) -> str | None:
        return self.redis.get(self.keys.pending_gate(project_id))

    def resolve(self, gate_id: str, decision: GateDecision | str) -> str:
        """Resolve a pending gate. Returns ok | missing | resolved (already)."""
        gate = self.redis.hget(self.keys.gate(gate_id), "project_id")
        if gate is None:
            return "missing"
        keys = [self.keys.gate(gate_id), self.keys.pending_gate(gate)]
        return self._resolve(keys=keys,
                             args=[gate_id, GateDecision(decision).value, repr(self.clock.now())])
