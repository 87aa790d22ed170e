"""Open-loop single-trip ``POST /transactions`` at a fixed rate, in its own process: the ingest load of
the latency states (:mod:`operations.benchmarks.latency_states`).

Open loop (requests leave on schedule whether or not earlier ones have answered) and round trips timed
from each request's *scheduled* time, so a slow gateway shows up as latency rather than as a lower rate.
Transaction ids are ``RUN_ID-i``, so the bench can find each one's verdict.

``python -m operations.benchmarks.post_load URL RATE SECONDS RUN_ID`` prints one JSON object.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import aiohttp
import orjson

from operations.open_loop import request_count, run_open_loop
from operations.traffic import TripGenerator


async def run(url: str, rate: float, seconds: float, run_id: str) -> dict[str, Any]:
    pool = list(TripGenerator.from_file(seed=11).trips(2000))
    round_trips: list[float] = []
    failed: list[str] = []
    error_samples: list[str] = []
    connector = aiohttp.TCPConnector(limit=64)
    headers = {"content-type": "application/json"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def one(i: int, scheduled: float) -> None:
            tx_id = f"{run_id}-{i}"
            body = orjson.dumps({**pool[i % len(pool)], "transaction_id": tx_id})
            try:
                async with session.post(f"{url}/transactions", data=body) as resp:
                    text = await resp.read()
                    if resp.status == 202:
                        round_trips.append(time.perf_counter() - scheduled)
                        return
                    sample = f"{resp.status}: {text[:200]!r}"
            except aiohttp.ClientError as exc:
                sample = f"{type(exc).__name__}: {exc}"
            failed.append(tx_id)
            if len(error_samples) < 5:
                error_samples.append(sample)

        n = request_count(rate, seconds)
        first_request_at = time.time()
        elapsed = await run_open_loop(rate, n, one)
    return {
        "offered_rate": rate,
        "sent": n,
        "accepted": len(round_trips),
        "achieved_rate": len(round_trips) / elapsed,
        "failed_ids": failed,
        "error_samples": error_samples,
        "first_request_at": first_request_at,
        "round_trip_ms": [t * 1e3 for t in round_trips],
    }


def main() -> int:
    url, rate, seconds, run_id = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    sys.stdout.write(orjson.dumps(asyncio.run(run(url, rate, seconds, run_id))).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
