"""What one scoring call costs: ONNX Runtime on one thread, per row at batch 1,024 and per batch-1 call, the call
both in a tight loop and spaced out as calls come in service.

Measured at export for this model and the one it replaces, on the same real rows in the same process, so
the model card's "before" and "after" come from one run on one machine: in the measuring thread's CPU time,
the two models taking turns, the least disturbed window kept. The machine's load average at the time is
recorded beside the figures, because a shared machine makes every figure an upper bound. ``make bench`` and
``python -m operations.benchmarks.model_cost`` measure with the same functions.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

BATCH = 1024
#: Goals of issue 24 for the lean model (ONNX Runtime, one thread).
GOAL_ROW_US = 3.0
GOAL_CALL_US = 50.0
#: Rounds in which the two models take turns; each figure is the best of its rounds' windows.
ROUNDS = 3
#: Spacing of the calls in service: the consumer calls Triton about 85 times a second at make demo's 1,000 trips/s.
SPACING_S = 0.01
#: Spaced calls measured per model and round; the median is kept.
SPACED_CALLS = 100
#: Each round's measuring time per model and figure is split into this many windows and the cheapest is kept:
#: on a shared machine the least disturbed window is the closest to the model's own cost.
WINDOWS = 7
SECONDS_PER_ROUND = 1.0


def session(path: Path) -> Any:
    """An ONNX Runtime session on one intra-op and one inter-op thread, run sequentially (how the cost is stated)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def cpu_us_per_row(session: Any, rows: np.ndarray, batch: int, seconds: float) -> float:
    """CPU us per row over calls of ``batch`` rows (cycled from ``rows``), the best of ``WINDOWS`` windows sharing
    about ``seconds``. The calling thread's CPU time: on one intra-op thread ONNX Runtime runs every kernel on
    the caller, so neither other processes nor the process's other threads (torch's pool at export) count; their
    cache misses still do."""
    tensor = np.ascontiguousarray(np.resize(rows, (batch, rows.shape[1])), dtype=np.float32)
    feed = {session.get_inputs()[0].name: tensor}
    session.run(None, feed)  # warm-up: allocations, caches
    best = float("inf")
    for _ in range(WINDOWS):
        calls = 0
        cpu0, deadline = time.thread_time(), time.monotonic() + seconds / WINDOWS
        while time.monotonic() < deadline or calls < 3:
            session.run(None, feed)
            calls += 1
        best = min(best, (time.thread_time() - cpu0) * 1e6 / (calls * batch))
    return best


def cpu_us_per_spaced_call(
    session: Any, rows: np.ndarray, spacing_s: float = SPACING_S, calls: int = SPACED_CALLS
) -> float:
    """Median CPU us of one batch-1 call when calls come ``spacing_s`` apart, the calling thread asleep in between.

    In a tight loop a call finds the graph's code and data in the caches; in service the other processes evict
    them between calls, so where other work shares the cores a call 10 ms after the last costs several times the
    loop's (the model card gives both).
    """
    feed = {session.get_inputs()[0].name: np.ascontiguousarray(rows[:1], dtype=np.float32)}
    session.run(None, feed)
    spent = []
    for _ in range(calls):
        time.sleep(spacing_s)
        cpu0 = time.thread_time()
        session.run(None, feed)
        spent.append(time.thread_time() - cpu0)
    return float(np.median(spent)) * 1e6


def graph_shape(path: Path) -> dict[str, Any]:
    """Node count and the sizes of the graph's matrix multiplications (the network's layers)."""
    import onnx

    graph = onnx.load(str(path)).graph
    weights = {init.name: tuple(init.dims) for init in graph.initializer}
    layers = [
        weights[name]
        for node in graph.node
        if node.op_type in ("Gemm", "MatMul")
        for name in node.input
        if name in weights and len(weights[name]) == 2
    ]
    return {"nodes": len(graph.node), "layers": [list(d) for d in layers]}


def compare(
    current: Path, previous: Path, rows: np.ndarray, previous_rows: np.ndarray, rounds: int = ROUNDS
) -> dict[str, Any]:
    """This model and the previous one on the same trips (each in its own columns), taking turns for ``rounds``
    rounds so a machine that slows down or speeds up weighs on both alike; the best of each figure is kept."""
    models = {"current": (session(current), rows, current), "previous": (session(previous), previous_rows, previous)}
    best = {name: {BATCH: float("inf"), 1: float("inf"), "spaced": float("inf")} for name in models}
    for _ in range(rounds):
        for name, (run, model_rows, _) in models.items():
            for batch in (BATCH, 1):
                us = cpu_us_per_row(run, model_rows, batch, SECONDS_PER_ROUND)
                best[name][batch] = min(best[name][batch], us)
            best[name]["spaced"] = min(best[name]["spaced"], cpu_us_per_spaced_call(run, model_rows))
    figures = {
        name: {
            "per_row_us_batch_1024": round(best[name][BATCH], 2),
            "per_call_us_batch_1": round(best[name][1], 1),
            "per_call_us_batch_1_spaced": round(best[name]["spaced"], 1),
            **graph_shape(path),
        }
        for name, (_, _, path) in models.items()
    }
    return {
        **figures,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
        "spacing_ms": SPACING_S * 1e3,
        "goals": {"per_row_us_batch_1024": GOAL_ROW_US, "per_call_us_batch_1": GOAL_CALL_US},
    }
