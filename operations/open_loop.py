"""Open-loop load: requests start on a fixed schedule whether or not earlier ones have answered.

One schedule for the stack's warm-up and every HTTP and gRPC load generator, so a slow server shows up as
latency measured from the moment a request was due (no coordinated omission), the same way everywhere.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any


def request_count(rate: float, seconds: float) -> int:
    """Requests in ``seconds`` at ``rate``, rounded: ``int()`` would make 10,000 / 300 s at 300/s 9,999."""
    return round(rate * seconds)


async def run_open_loop(rate: float, count: int, one: Callable[[int, float], Coroutine[Any, Any, None]]) -> float:
    """Start ``one(i, due)`` at ``due = start + i / rate`` for ``i`` in ``range(count)``, wait for all of
    them, and return the seconds the whole run took (``due`` is a ``time.perf_counter()`` reading)."""
    tasks = []
    start = time.perf_counter()
    for i in range(count):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    return time.perf_counter() - start
