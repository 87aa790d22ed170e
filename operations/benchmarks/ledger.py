"""Pure: the cost ledger of an end-to-end run, CPU microseconds per verdict for each process, against the floor.

A verdict rate alone does not say where the machine went; CPU seconds per process divided by the verdicts
produced does, in a unit that adds up (the processes' figures sum to the run's total) and that compares
directly with the floor of :mod:`operations.benchmarks.cost_floor`.
"""

from __future__ import annotations

from typing import Any

#: Ledger lines shown but left out of the total: the profiler (it measures the measurement) and the load
#: generator's start-up (a fixed cost before the first request, as the services' own start-up is).
NOT_THE_SYSTEM = ("py-spy", "load generator start-up")


def ledger(cpu_seconds: dict[str, float], verdicts: int, floor_us: float | None = None) -> dict[str, Any]:
    """CPU us per verdict per process, their total (system processes only) and the ratio to ``floor_us``."""
    per_verdict = {name: seconds * 1e6 / verdicts for name, seconds in cpu_seconds.items()} if verdicts else {}
    system = {name: us for name, us in per_verdict.items() if not name.startswith(NOT_THE_SYSTEM)}
    total = sum(system.values()) if system else None
    return {
        "verdicts": verdicts,
        "cpu_seconds": {name: round(s, 3) for name, s in cpu_seconds.items()},
        "us_per_verdict": {name: round(us, 1) for name, us in sorted(per_verdict.items(), key=lambda kv: -kv[1])},
        "total_us": None if total is None else round(total, 1),
        "floor_us": None if floor_us is None else round(floor_us, 1),
        "ratio_to_floor": None if total is None or not floor_us else round(total / floor_us, 2),
        "largest": [name for name, _ in sorted(system.items(), key=lambda kv: -kv[1])[:3]],
    }


def with_floor(entry: dict[str, Any], floor_us: float | None) -> dict[str, Any]:
    """The same ledger with the floor (measured later in the run) filled in."""
    total = entry.get("total_us")
    return {
        **entry,
        "floor_us": None if floor_us is None else round(floor_us, 1),
        "ratio_to_floor": None if total is None or not floor_us else round(total / floor_us, 2),
    }


def max_rate(cores: int, us_per_verdict: float) -> float:
    """Verdicts/s that ``cores`` fully busy CPUs would allow at this cost (a projection, not a measurement)."""
    return cores * 1e6 / us_per_verdict if us_per_verdict > 0 else float("inf")
