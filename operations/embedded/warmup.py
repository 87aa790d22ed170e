"""Ready means warm: marked trips go gateway -> broker -> consumer -> Triton -> verdict before "ready".

The first requests after a start pay for connections, JIT-compiled paths, ONNX Runtime's first runs and
empty batches; the broker's JVM alone needs some thousands of requests before its produce path is
compiled (about 0.9 ms of CPU per request at first, 0.25-0.35 ms once warm). So the warm-up is a stream of
single-trip POSTs at a steady rate, as real payments arrive, long enough for that, rather than a handful
of trips: the first minute of real traffic is then as fast as the tenth. The default pace is gentle
(``STACK_WARMUP_RATE``): on two cores, after a warm-up at full speed the first 20 s of real traffic ran at
two to three times their later median latency, after the same trips spread over about 100 s at 1.5 times
(the JIT compiles on the same cores the traffic keeps busy). The trips
are ordinary weekday trips, so they raise no alert, and their ids start with ``warmup-``: they are on the
transactions and verdicts topics (nothing accepted is ever dropped, warm-up included) and anything that
counts or shows traffic to analysts can tell them apart by that prefix.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from operations.open_loop import run_open_loop
from operations.verdict_collector import VerdictCollector

log = logging.getLogger(__name__)

PREFIX = "warmup-"
#: A real-looking ordinary trip (Midtown to Midtown, card, a usual tip): scored normal, never an alert.
TRIP: dict[str, Any] = {
    "vendor_id": 2,
    "pickup_datetime": "2019-03-20 16:30:11",
    "dropoff_datetime": "2019-03-20 16:44:49",
    "passenger_count": 1,
    "trip_distance": 2.63,
    "rate_code_id": 1,
    "store_and_fwd_flag": "N",
    "pickup_location_id": 231,
    "dropoff_location_id": 88,
    "payment_type": 1,
    "fare_amount": 12.5,
    "extra": 1.0,
    "mta_tax": 0.5,
    "tip_amount": 3.36,
    "tolls_amount": 0.0,
    "improvement_surcharge": 0.3,
    "total_amount": 20.16,
    "congestion_surcharge": 2.5,
}


class WarmupFailed(RuntimeError):
    """Warm-up traffic was refused or its verdicts did not come back in time."""


def warm_up(
    gateway_url: str,
    collector: VerdictCollector,
    count: int,
    ca_file: Path | None = None,
    rate: float = 100.0,
    timeout: float = 60.0,
) -> float:
    """Send ``count`` marked trips, one per request at ``rate`` a second, and wait for every verdict.

    ``collector`` must be started and keep ids with :data:`PREFIX`. A trip the gateway does not accept yet
    (starting, overloaded) is sent again until ``timeout`` after the last one was due; its verdict may take
    as long again. Returns the seconds it took."""
    started = time.monotonic()
    run = f"{PREFIX}{uuid.uuid4().hex[:12]}-"
    ids = [f"{run}{i}" for i in range(count)]
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
    asyncio.run(_send_all(f"{gateway_url}/transactions", ids, rate, verify, count / rate + timeout))
    missing = collector.wait_for(set(ids), timeout)
    if missing:
        raise WarmupFailed(f"{len(missing)} of {count} warm-up verdicts did not come back within {timeout:.0f}s")
    elapsed = time.monotonic() - started
    log.info("warm-up: %d trips went end to end in %.1fs", count, elapsed)
    return elapsed


#: Requests in flight at most while warming up (more only queue in the client).
IN_FLIGHT = 32


async def _send_all(url: str, ids: list[str], rate: float, verify: ssl.SSLContext | bool, timeout: float) -> None:
    """Open loop (:mod:`operations.open_loop`): trip ``i`` leaves at ``i / rate`` seconds whether or not
    earlier ones have answered.

    aiohttp, as the bench's load generators: with 32 requests in flight httpx's connection pool costs
    milliseconds of CPU per request, enough to hold the warm-up far below ``rate`` on a small host."""
    deadline = time.monotonic() + timeout
    connector = aiohttp.TCPConnector(limit=IN_FLIGHT, ssl=verify)
    headers = {"content-type": "application/json"}
    request_timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, headers=headers, timeout=request_timeout) as session:
        slots = asyncio.Semaphore(IN_FLIGHT)

        async def one(i: int, _due: float) -> None:
            tid = ids[i]
            body = orjson.dumps(dict(TRIP, transaction_id=tid))
            async with slots:
                while True:
                    try:
                        async with session.post(url, data=body) as response:
                            await response.read()
                            status, why = response.status, f"HTTP {response.status}"
                    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                        status, why = 0, f"{type(exc).__name__}: {exc}"
                    if status == 202:
                        return
                    if time.monotonic() > deadline:
                        raise WarmupFailed(f"the gateway did not accept warm-up trip {tid}: {why}")
                    await asyncio.sleep(0.5)

        await run_open_loop(rate, len(ids), one)
