"""``POST /score`` round trips at several steady rates, each with its span breakdown.

The load is :mod:`operations.benchmarks.score_load` (open loop, its own process, through
:func:`operations.benchmarks.pipeline.score_latency`); this adds the goals and the spans per rate.
"""

from __future__ import annotations

import math
from typing import Any

from operations.benchmarks import pipeline, spans
from operations.stack import Stack

RATES = (500.0, 1000.0, 2000.0)
#: p99 goals by offered rate (issue 24): 8.7 ms at 1,000/s, 15 ms at 2,000/s with no error.
GOAL_P99_MS = {1000.0: 8.7, 2000.0: 15.0}
#: The achieved rate must be within this share of the offered one to count as sustained.
SUSTAINED = 0.97


def goal(fig: dict[str, Any]) -> dict[str, Any]:
    """Whether one rate's figures meet its goal: p99 limit, no error, the rate sustained (None: no goal)."""
    limit = GOAL_P99_MS.get(float(fig["offered_rate"]))
    p99 = fig.get("p99_ms")
    if limit is None or p99 is None or math.isnan(p99):
        return {"limit_p99_ms": limit, "met": None}
    sustained = fig.get("achieved_rate", 0.0) >= SUSTAINED * fig["offered_rate"]
    return {"limit_p99_ms": limit, "met": p99 <= limit and fig.get("errors", 0) == 0 and sustained}


def measure(stack: Stack, rates: tuple[float, ...], seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for rate in rates:
        before = spans.scrape(stack)
        fig = pipeline.score_latency(stack, rate, seconds)
        fig["spans"] = spans.breakdown(before, spans.scrape(stack))
        fig["goal"] = goal(fig)
        out[str(int(rate))] = fig
    return out
