"""Event -> verdict latency at a steady single-trip rate, in the states a user meets the system in.

Cold (the first request right after the stack says ready), warm (30 s after ready), right after a burst
at full speed, and after a long history through the broker. Each window gives the stamped latency of
every verdict (the gateway's ``ingested_at`` -> the consumer's ``scored_at``), the gateway's HTTP round
trip as the load generator saw it, the span breakdown over the window, and whether the goal is met.
The load generator (:mod:`operations.benchmarks.post_load`) is a process of its own.
"""

from __future__ import annotations

import logging
import math
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from typing import Any

import numpy as np
import orjson

from operations.benchmarks import pipeline, spans
from operations.stack import Stack

log = logging.getLogger(__name__)

#: Goal for event -> verdict at 1,000 single-trip POSTs/s, in every state (issue 24).
GOAL_P95_MS = 8.7
GOAL_P99_MS = 15.0


def percentiles(values_ms: Iterable[float]) -> dict[str, float]:
    """p50/p95/p99 (ms) of individual measurements; NaN when there are none."""
    arr = np.asarray(list(values_ms), dtype=float)
    if arr.size == 0:
        return {"p50_ms": math.nan, "p95_ms": math.nan, "p99_ms": math.nan}
    return {f"p{q}_ms": float(np.percentile(arr, q)) for q in (50, 95, 99)}


def goal_met(p95_ms: float, p99_ms: float) -> bool | None:
    """Whether event -> verdict meets p95 <= 8.7 ms and p99 <= 15 ms; None when not measured."""
    if math.isnan(p95_ms) or math.isnan(p99_ms):
        return None
    return p95_ms <= GOAL_P95_MS and p99_ms <= GOAL_P99_MS


def measure_window(stack: Stack, state: str, rate: float, seconds: float) -> dict[str, Any]:
    """One window of ``rate`` single-trip POSTs/s for ``seconds``; every accepted trip's verdict is awaited."""
    run_id = f"{state}-{uuid.uuid4().hex[:6]}"
    collector = stack.verdict_collector(prefix=run_id).start()
    before = spans.scrape(stack)
    proc = subprocess.run(
        [sys.executable, "-m", "operations.benchmarks.post_load", stack.gateway_url, str(rate), str(seconds), run_id],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=True,
    )
    load = orjson.loads(proc.stdout.strip().splitlines()[-1])
    failed = set(load["failed_ids"])
    accepted = {f"{run_id}-{i}" for i in range(load["sent"])} - failed
    missing = collector.wait_for(accepted, timeout=60)
    after = spans.scrape(stack)
    time.sleep(0.5)  # late duplicates
    collector.stop()
    seen = collector.snapshot()
    stamped = percentiles(v.scored_latency_s * 1e3 for v in seen.values() if v.scored_latency_s is not None)
    breakdown = spans.breakdown(before, after)
    return {
        "state": state,
        "offered_rate": rate,
        "seconds": seconds,
        "sent": load["sent"],
        "accepted": len(accepted),
        "achieved_rate": load["achieved_rate"],
        "http_errors": len(failed),
        "error_samples": load["error_samples"],
        "verdicts": len(seen),
        "missing": len(missing),
        "duplicates": collector.duplicates,
        "event_to_verdict": stamped,
        "http_round_trip": percentiles(load["round_trip_ms"]),
        "goal_met": goal_met(stamped["p95_ms"], stamped["p99_ms"]),
        "spans": breakdown,
        "bottleneck": spans.bottleneck(breakdown),
    }


def cold_and_warm(
    stack: Stack, ready_at: float, rate: float, seconds: float, warm_after: float = 30.0
) -> dict[str, Any]:
    """The first window starts at once (the stack has just said ready); the second ``warm_after`` s after ready."""
    out = {"cold": measure_window(stack, "cold", rate, seconds)}
    wait = ready_at + warm_after - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    out["warm"] = measure_window(stack, "warm", rate, seconds)
    out["warm"]["after_ready_s"] = warm_after
    return out


def _send_and_drain(stack: Stack, prefix: str, count: int, batch: int, concurrency: int) -> dict[str, Any]:
    """``count`` transactions at full speed (HTTP batches, the replay in its own process), every verdict awaited."""
    run_id = f"{prefix}-{uuid.uuid4().hex[:6]}"
    collector = stack.verdict_collector(prefix=run_id).start()
    started = time.monotonic()
    proc = pipeline.replay_process(stack, run_id, 0, count=count, batch=batch, concurrency=concurrency)
    out, _ = proc.communicate(timeout=max(600, count / 500))
    accepted = pipeline._accepted(out)
    missing = collector.wait_for({f"{run_id}-{i}" for i in range(accepted)}, timeout=120)
    collector.stop()
    return {
        "transactions": count,
        "accepted": accepted,
        "missing": len(missing),
        "duplicates": collector.duplicates,
        "seconds_to_last_verdict": time.monotonic() - started,
    }


def post_burst(stack: Stack, rate: float, seconds: float, burst: int, batch: int, concurrency: int) -> dict[str, Any]:
    """``burst`` transactions at full speed, all their verdicts in, then a window at once."""
    sent = _send_and_drain(stack, "burst", burst, batch, concurrency)
    window = measure_window(stack, "post-burst", rate, seconds)
    window["burst"] = sent
    return window


def after_history(
    stack: Stack, messages_in: int | None, target: int, rate: float, seconds: float, batch: int, concurrency: int
) -> dict[str, Any]:
    """A window once the broker has carried ``target`` transactions (topped up at full speed if it lacks some).

    ``messages_in`` is the broker's own count so far (None for an external broker: then all ``target`` are sent).
    """
    lacking = max(0, target - (messages_in or 0))
    topped = _send_and_drain(stack, "history", lacking, batch, concurrency) if lacking else None
    window = measure_window(stack, "after-history", rate, seconds)
    window["history"] = {"target": target, "before": messages_in, "topped_up": topped}
    return window
