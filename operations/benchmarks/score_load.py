"""Open-loop load on ``POST /score``: one trip per request at a fixed rate, in its own process.

Open loop means requests are sent on schedule whether or not earlier ones have answered, so a slow
server shows up as latency instead of silently lowering the rate (no coordinated omission). Each
latency is measured from the request's *scheduled* time, for the same reason. aiohttp, because its
per-request client cost is well below httpx's and the client must not be the bottleneck.

Refusals are counted by status (``statuses``), and those that carry ``Retry-After`` apart
(``with_retry_after``): under overload the gateway should refuse early with ``Retry-After`` rather than
let requests time out. ``CONNECTIONS`` (default 64) bounds the requests in flight; more of them let the
overload reach the gateway instead of queueing in this client.

``python -m operations.benchmarks.score_load URL RATE SECONDS [CONNECTIONS]`` prints one JSON object.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter

import aiohttp
import numpy as np
import orjson

from operations.open_loop import request_count, run_open_loop
from operations.traffic import TripGenerator


async def run(url: str, rate: float, seconds: float, connections: int = 64) -> dict[str, object]:
    bodies = [orjson.dumps(t) for t in TripGenerator.from_file(seed=7).trips(2000)]
    latencies: list[float] = []
    errors = 0
    statuses: Counter[str] = Counter()
    with_retry_after = 0
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, headers={"content-type": "application/json"}) as session:

        async def one(body: bytes, scheduled: float) -> None:
            nonlocal errors, with_retry_after
            try:
                async with session.post(f"{url}/score", data=body) as resp:
                    await resp.read()
                    statuses[str(resp.status)] += 1
                    if resp.status == 200:
                        latencies.append(time.perf_counter() - scheduled)
                    else:
                        errors += 1
                        with_retry_after += "Retry-After" in resp.headers
            except aiohttp.ClientError as exc:
                statuses[type(exc).__name__] += 1
                errors += 1

        # Warm the connection pool so the first requests do not pay TCP set-up.
        await asyncio.gather(*(one(bodies[i], time.perf_counter()) for i in range(16)))
        latencies.clear()
        statuses.clear()
        errors = with_retry_after = 0
        count = request_count(rate, seconds)
        elapsed = await run_open_loop(rate, count, lambda i, due: one(bodies[i % len(bodies)], due))
    arr = np.asarray(latencies) * 1e3 if latencies else np.asarray([np.nan])
    return {
        "offered_rate": rate,
        "achieved_rate": len(latencies) / elapsed,
        "seconds": seconds,
        "ok": len(latencies),
        "errors": errors,
        "with_retry_after": with_retry_after,
        "statuses": dict(statuses),
        **{f"p{q}_ms": float(np.percentile(arr, q)) for q in (50, 95, 99)},
    }


def main() -> int:
    url, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    connections = int(sys.argv[4]) if len(sys.argv) > 4 else 64
    sys.stdout.write(orjson.dumps(asyncio.run(run(url, rate, seconds, connections))).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
