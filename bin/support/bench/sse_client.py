"""SSE subscribers for the fan-out benchmark, in their own process.

`python -m bin.support.bench.sse_client BASE TOKEN SUBS_PER_JOB JOB_ID...` opens SUBS_PER_JOB
event streams per job, prints `ready N` once every stream has its snapshot, then one JSON line
per status event received ([job_id, status, unix time]) until every stream ends, then `done`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from urllib.parse import urlsplit


async def _subscribe(host: str, port: int, token: str, job_id: str, ready: asyncio.Event,
                     counter: list[int], total: int, out: list[tuple[str, str, float]]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET /api/generation/{job_id}/events HTTP/1.1\r\nHost: {host}\r\n"
                 f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n".encode())
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            if not line.startswith(b"data: "):
                continue
            received = time.time()
            try:
                event = json.loads(line[6:])
            except ValueError:
                continue
            if "job_id" in event:  # the snapshot: this subscriber is live
                counter[0] += 1
                if counter[0] == total:
                    ready.set()
                continue
            if event.get("status"):
                out.append((job_id, event["status"], received))
                if event["status"] in ("ready", "failed"):
                    return
    finally:
        writer.close()


async def main(base: str, token: str, per_job: int, job_ids: list[str]) -> None:
    parts = urlsplit(base)
    ready, counter, out = asyncio.Event(), [0], []
    total = per_job * len(job_ids)
    tasks = []
    for job_id in job_ids:
        for _ in range(per_job):
            tasks.append(asyncio.create_task(_subscribe(
                parts.hostname or "127.0.0.1", parts.port or 80, token, job_id, ready, counter,
                total, out)))
            await asyncio.sleep(0.001)  # a gentle connection ramp
    await asyncio.wait_for(ready.wait(), 60)
    print(f"ready {counter[0]}", flush=True)
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 120)
    for row in out:
        print(json.dumps(row))
    print("done", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]))
