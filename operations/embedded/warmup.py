"""Ready means warm: a few marked trips go gateway -> broker -> consumer -> Triton -> verdict before "ready".

The first requests after a start pay for connections, JIT-compiled paths, ONNX Runtime's first runs and
empty batches; sending them here makes the first minute of real traffic as fast as the tenth. The trips
are ordinary weekday trips, so they raise no alert, and their ids start with ``warmup-``: they are on the
transactions and verdicts topics (nothing accepted is ever dropped, warm-up included) and anything that
counts or shows traffic to analysts can tell them apart by that prefix.
"""

from __future__ import annotations

import logging
import ssl
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

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
    gateway_url: str, collector: VerdictCollector, count: int, ca_file: Path | None = None, timeout: float = 120.0
) -> float:
    """Send ``count`` marked trips one by one (as single payments arrive) and wait for every verdict.

    ``collector`` must be started and keep ids with :data:`PREFIX`. Returns the seconds it took."""
    started = time.monotonic()
    run = f"{PREFIX}{uuid.uuid4().hex[:12]}-"
    ids = {f"{run}{i}" for i in range(count)}
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
    with httpx.Client(timeout=10, verify=verify) as client:
        for tid in sorted(ids):
            deadline = time.monotonic() + timeout
            while True:
                try:
                    status = client.post(f"{gateway_url}/transactions", json=dict(TRIP, transaction_id=tid)).status_code
                except httpx.HTTPError as exc:
                    status, why = 0, str(exc)
                else:
                    why = f"HTTP {status}"
                if status == 202:
                    break
                if time.monotonic() > deadline:
                    raise WarmupFailed(f"the gateway did not accept warm-up trip {tid}: {why}")
                time.sleep(0.5)
    missing = collector.wait_for(ids, timeout)
    if missing:
        raise WarmupFailed(f"{len(missing)} of {count} warm-up verdicts did not come back within {timeout:.0f}s")
    elapsed = time.monotonic() - started
    log.info("warm-up: %d trips went end to end in %.1fs", count, elapsed)
    return elapsed
