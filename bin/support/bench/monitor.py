"""Which Redis commands a workload sends, by MONITOR: commands clients sent, and those run
inside their scripts (`lua:` prefix). `round_trips` counts client commands with a MULTI…EXEC
block as one; non-transactional pipelines look like separate commands here, so the benchmark
takes round trips from INFO's socket reads instead. MONITOR slows Redis down: small samples.
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
