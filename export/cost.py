"""What one scoring call costs: ONNX Runtime on one thread, per row at batch 1,024 and per batch-1 call.

Measured at export for this model and the one it replaces, on the same real rows in the same process, so
the model card's "before" and "after" come from one run on one machine. The best of several repetitions
is kept (the least disturbed by whatever else the machine runs); the machine's load average at the time is
recorded beside the figures, because a shared machine makes every figure an upper bound.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from taxifraud.wire import INPUT_TENSOR

BATCH = 1024
REPEATS = 7
CALLS_PER_REPEAT = {BATCH: 20, 1: 400}


def _session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _best_seconds(session: Any, rows: np.ndarray, calls: int) -> float:
    feed = {INPUT_TENSOR: rows}
    for _ in range(max(3, calls // 10)):  # warm-up: allocations, caches
        session.run(None, feed)
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(calls):
            session.run(None, feed)
        best = min(best, (time.perf_counter() - start) / calls)
    return best


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


def measure(path: Path, rows: np.ndarray) -> dict[str, Any]:
    """Per-row cost at batch 1,024 and per-call cost at batch 1 (microseconds), one intra- and inter-op thread."""
    session = _session(path)
    batch = np.ascontiguousarray(np.resize(rows, (BATCH, rows.shape[1])), dtype=np.float32)
    single = np.ascontiguousarray(rows[:1], dtype=np.float32)
    per_row = _best_seconds(session, batch, CALLS_PER_REPEAT[BATCH]) / BATCH
    per_call = _best_seconds(session, single, CALLS_PER_REPEAT[1])
    return {
        "per_row_us_batch_1024": round(per_row * 1e6, 2),
        "per_call_us_batch_1": round(per_call * 1e6, 1),
        **graph_shape(path),
    }


def compare(current: Path, previous: Path, rows: np.ndarray, previous_rows: np.ndarray) -> dict[str, Any]:
    """This model and the previous one, measured back to back on the same trips (each in its own columns)."""
    return {
        "current": measure(current, rows),
        "previous": measure(previous, previous_rows),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
        "goals": {"per_row_us_batch_1024": 3.0, "per_call_us_batch_1": 50.0},
    }
