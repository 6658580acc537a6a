"""`bin/migrate`: bring a Redis written by an older Kiln to today's layout (docs/operations.md,
"Redis layout").

- Dramatiq's keys (`dramatiq:*`) move from Kiln's database to the broker's (KILN_BROKER_DB).
  Where the broker's database already holds a key (a new process ran first), the old contents
  are added to it: queued messages ahead of the newer ones, nothing overwritten.
- A job's keys get the job's id as their hash tag (`kiln:job:<id>:events` becomes
  `kiln:job:{<id>}:events`), a project's keys the project's id; each key keeps its contents
  and expiry (RENAMENX). A key whose new name is already taken is left where it is and named
  in the output.

Every step finds only what is still in the old layout and moves it one key at a time, each in
one script: safe to run twice, and to stop half way. Run it while no older web app or worker
writes (bin/dev runs it before it starts its processes).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass

import redis

from domain.ids import ID_PATTERN
from domain.keys import Keys
from domain.redis_client import connect, database
from domain.settings import ConfigError, Settings

DRAMATIQ_NAMESPACE = "dramatiq"  # Kiln's brokers keep Dramatiq's default namespace

# KEYS[1]: a Dramatiq key, in Kiln's database. ARGV: 1 Kiln's database, 2 the broker's.
# MOVE it; if the broker's database has it already, merge it in by type, then delete it.
_MOVE = """
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'none' then return 0 end
if redis.call('MOVE', KEYS[1], ARGV[2]) == 1 then return 1 end
local items
if kind == 'list' then items = redis.call('LRANGE', KEYS[1], 0, -1)
elseif kind == 'hash' then items = redis.call('HGETALL', KEYS[1])
elseif kind == 'set' then items = redis.call('SMEMBERS', KEYS[1])
elseif kind == 'zset' then items = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
else return redis.error_reply('cannot merge ' .. KEYS[1] .. ' of type ' .. kind) end
redis.call('SELECT', ARGV[2])
if kind == 'list' then  -- the older messages first
  for i = #items, 1, -1 do redis.call('LPUSH', KEYS[1], items[i]) end
elseif kind == 'hash' then
  for i = 1, #items, 2 do redis.call('HSETNX', KEYS[1], items[i], items[i + 1]) end
elseif kind == 'set' then
  for _, v in ipairs(items) do redis.call('SADD', KEYS[1], v) end
else
  for i = 1, #items, 2 do redis.call('ZADD', KEYS[1], 'NX', items[i + 1], items[i]) end
end
redis.call('SELECT', ARGV[1])
redis.call('DEL', KEYS[1])
return 1
"""


def move_broker_keys(kiln: redis.Redis, kiln_db: int, broker_db: int) -> int:
    """Move Dramatiq's keys out of Kiln's database into the broker's; returns how many."""
    if kiln_db == broker_db:
        raise ConfigError(f"KILN_BROKER_DB={broker_db} is Kiln's own database")
    move = kiln.register_script(_MOVE)
    return sum(int(move(keys=[key], args=[kiln_db, broker_db]))
               for key in list(kiln.scan_iter(match=f"{DRAMATIQ_NAMESPACE}:*", count=1000)))


def tag_ids(kiln: redis.Redis, prefix: str) -> tuple[int, list[str]]:
    """Rename a job's and a project's keys from `<prefix>:job:<id>...` to today's
    `Keys(prefix).job(<id>)...` (the id as hash tag). Returns how many were renamed and the
    old names left in place because their new name was taken."""
    keys = Keys(prefix)
    renamed, taken = 0, []
    for kind, new in (("job", keys.job), ("project", keys.project)):
        old = re.compile(re.escape(f"{prefix}:{kind}:") + f"({ID_PATTERN})(:.*)?", re.S)
        for key in list(kiln.scan_iter(match=f"{prefix}:{kind}:*", count=1000)):
            match = old.fullmatch(key)
            if match is None:  # today's name (`{<id>}`), or not an id at all
                continue
            if kiln.renamenx(key, new(match.group(1)) + (match.group(2) or "")):
                renamed += 1
            elif kiln.exists(key):  # (else another run renamed it meanwhile)
                taken.append(key)
    return renamed, taken


@dataclass(frozen=True)
class Migration:
    moved: int  # Dramatiq keys moved to the broker's database
    renamed: int  # job and project keys renamed to their hash-tagged names
    taken: list[str]  # old names left in place: their new name was taken

    def lines(self) -> list[str]:
        """What changed, a line each (none when nothing was left to migrate)."""
        out = []
        if self.moved:
            out.append(f"moved {self.moved} Dramatiq key(s) to the broker's database")
        if self.renamed:
            out.append(f"renamed {self.renamed} job and project key(s) to hash-tagged names")
        return out + [f"left {key}: its new name is taken" for key in self.taken]


def migrate(settings: Settings) -> Migration:
    """Every step, in order."""
    kiln = connect(settings.redis_url)
    try:
        moved = move_broker_keys(kiln, database(settings.redis_url), settings.broker_db)
        renamed, taken = tag_ids(kiln, settings.redis_prefix)
        return Migration(moved, renamed, taken)
    finally:
        kiln.close()


def main(argv: list[str]) -> int:
    argparse.ArgumentParser(prog="bin/migrate", description=__doc__.splitlines()[0]).parse_args(
        argv)
    try:
        done = migrate(Settings.from_env())
    except ConfigError as exc:
        print(f"bin/migrate: {exc}", file=sys.stderr)
        return 2
    for line in done.lines() or ["nothing to migrate"]:
        print(f"bin/migrate: {line}")
    return 1 if done.taken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
