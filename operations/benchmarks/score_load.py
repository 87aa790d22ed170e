"""Open-loop load on ``POST /score``: one trip per request at a fixed rate, in its own process.

Open loop means requests are sent on schedule whether or not earlier ones have answered, so a slow
server shows up as latency instead of silently lowering the rate (no coordinated omission). Each
latency is measured from the request's *scheduled* time, for the same reason. aiohttp, because its
per-request client cost is well below httpx's and the client must not be the bottleneck.

``python -m operations.benchmarks.score_load URL RATE SECONDS`` prints one JSON object.
"""

from __future__ import annotations

import asyncio
import sys
import time

import aiohttp
import numpy as np
import orjson

from operations.traffic import TripGenerator


async def run(url: str, rate: float, seconds: float) -> dict[str, float | int]:
    bodies = [orjson.dumps(t) for t in TripGenerator.from_file(seed=7).trips(2000)]
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector, headers={"content-type": "application/json"}) as session:

        async def one(body: bytes, scheduled: float) -> None:
            nonlocal errors
            try:
                async with session.post(f"{url}/score", data=body) as resp:
                    await resp.read()
                    if resp.status == 200:
                        latencies.append(time.perf_counter() - scheduled)
                    else:
                        errors += 1
            except aiohttp.ClientError:
                errors += 1

        # Warm the connection pool so the first requests do not pay TCP set-up.
        await asyncio.gather(*(one(bodies[i], time.perf_counter()) for i in range(16)))
        latencies.clear()
        n = int(rate * seconds)
        tasks = []
        start = time.perf_counter()
        for i in range(n):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(bodies[i % len(bodies)], scheduled)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    arr = np.asarray(latencies) * 1e3 if latencies else np.asarray([np.nan])
    return {
        "offered_rate": rate,
        "achieved_rate": len(latencies) / elapsed,
        "seconds": seconds,
        "ok": len(latencies),
        "errors": errors,
        **{f"p{q}_ms": float(np.percentile(arr, q)) for q in (50, 95, 99)},
    }


def main() -> int:
    url, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    sys.stdout.write(orjson.dumps(asyncio.run(run(url, rate, seconds))).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
