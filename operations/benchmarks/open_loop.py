"""Open-loop load: requests start on a fixed schedule whether or not earlier ones have answered.

One schedule for every HTTP and gRPC load generator, so a slow server shows up as latency measured from
the moment a request was due (no coordinated omission), the same way in each benchmark.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any


async def run_open_loop(rate: float, seconds: float, one: Callable[[int, float], Coroutine[Any, Any, None]]) -> float:
    """Start ``one(i, due)`` at ``due = start + i / rate`` for ``rate * seconds`` requests, wait for all of
    them, and return the seconds the whole run took (``due`` is a ``time.perf_counter()`` reading)."""
    n = int(rate * seconds)
    tasks = []
    start = time.perf_counter()
    for i in range(n):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    return time.perf_counter() - start
