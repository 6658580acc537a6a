"""A small HTTP/1.1 load client (asyncio, keep-alive, raw sockets), run in its own process so it
does not share an event loop with the server it measures.

`python -m bin.support.bench.loadgen URL --clients C --seconds S [--interval I] [--header K:V]`
prints one JSON line: requests, errors, seconds, requests_per_s, latency p50/p99 (ms); with
`--raw`, every latency too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from urllib.parse import urlsplit

from bin.support.bench.common import summary_ms


async def _client(host: str, port: int, request: bytes, stop_at: float, budget: list[int],
                  latencies: list[float], errors: list[int], interval: float) -> None:
    writer = None
    next_at = time.perf_counter() + random.uniform(0, interval)
    while time.perf_counter() < stop_at and budget[0] > 0:
        if interval:  # paced: one request per interval (sooner if the last one was late)
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            next_at += interval
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            budget[0] -= 1
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 200"):
                errors[0] += 1
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            errors[0] += 1  # a refused or dropped connection: count it, reconnect
            if writer is not None:
                writer.close()
            writer = None
            await asyncio.sleep(0.01)
    if writer is not None:
        writer.close()


async def run(url: str, clients: int, seconds: float, headers: list[str],
              max_requests: int, interval: float = 0.0, raw: bool = False) -> dict[str, object]:
    parts = urlsplit(url)
    extra = "".join(f"{h.split(':', 1)[0]}: {h.split(':', 1)[1].strip()}\r\n" for h in headers)
    request = (f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n{extra}\r\n"
               ).encode()
    latencies: list[float] = []
    errors, budget = [0], [max_requests]
    started = time.perf_counter()
    await asyncio.gather(*(
        _client(parts.hostname or "127.0.0.1", parts.port or 80, request, started + seconds,
                budget, latencies, errors, interval) for _ in range(clients)))
    elapsed = time.perf_counter() - started
    out: dict[str, object] = {
        "clients": clients, "interval_s": interval, "requests": len(latencies),
        "errors": errors[0], "seconds": round(elapsed, 2),
        "requests_per_s": round(len(latencies) / elapsed, 1), "latency_ms": summary_ms(latencies)}
    if raw:  # every latency, for percentiles over several runs
        out["latencies_s"] = [round(s, 6) for s in latencies]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--max", type=int, default=200_000, help="bound on total requests")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--interval", type=float, default=0.0,
                        help="seconds between one client's requests (0: back to back)")
    parser.add_argument("--raw", action="store_true", help="also print every latency (s)")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(run(args.url, args.clients, args.seconds, args.header,
                                     args.max, args.interval, args.raw))))


if __name__ == "__main__":
    main()
