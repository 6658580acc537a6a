"""Count Redis round trips vs commands with MONITOR (INFO counts commands run inside scripts
too, so it cannot tell one EVAL of five calls from five round trips).

A round trip is a command a client sent: an EVAL/EVALSHA counts once with the calls inside it
(`[0 lua]` lines) counted as commands only; a MULTI…EXEC block (contiguous in MONITOR's
output) counts once. MONITOR slows Redis down, so it only watches a small sample.
"""

from __future__ import annotations

import threading
from collections import Counter

import redis


class RoundTrips:
    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url)
        self._conn = self._client.connection_pool.get_connection()
        self._stop = threading.Event()
        self.round_trips = 0
        self.commands = 0
        self.by_command: Counter[str] = Counter()
        self._thread = threading.Thread(target=self._read, daemon=True)

    def start(self) -> RoundTrips:
        self._conn.send_command("MONITOR")
        self._conn.read_response()  # OK
        self._thread.start()
        return self

    def _read(self) -> None:
        in_multi = False
        while not self._stop.is_set():
            try:
                line = self._conn.read_response(timeout=0.2)
            except (redis.TimeoutError, TimeoutError):
                continue
            except (redis.ConnectionError, OSError):
                return
            if not isinstance(line, bytes | str):
                continue
            text = line.decode(errors="replace") if isinstance(line, bytes) else line
            _, _, rest = text.partition(" [")
            origin, _, args = rest.partition("] ")
            name = args.split(" ", 1)[0].strip('"').upper()
            if origin.endswith(" lua"):
                self.commands += 1
                self.by_command[f"lua:{name}"] += 1
                continue
            if name in ("MULTI", "EXEC"):
                in_multi = name == "MULTI"
                self.round_trips += name == "MULTI"
                continue
            self.commands += 1
            self.by_command[name] += 1
            if not in_multi:
                self.round_trips += 1

    def stop(self) -> RoundTrips:
        self._stop.set()
        self._thread.join(5)
        self._conn.disconnect()
        self._client.close()
        return self
