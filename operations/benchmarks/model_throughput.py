"""Triton (embedded, over gRPC) against in-process ONNX Runtime on the same graph: rows/s by batch size.

Both sides score the same encoded trips with sequential calls for a fixed wall time, so the ratio
shows what serving through Triton costs (gRPC, (de)serialisation, the Python backend hop) at each
batch size.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tritonclient.grpc as grpcclient

from taxifraud import wire
from taxifraud.onnx_scorer import OnnxScorer

BATCH_SIZES = (1, 64, 1024)


def _rate(call: Callable[[], object], rows: int, seconds: float) -> dict[str, float]:
    call()  # warm-up
    latencies = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - t0)
    total = sum(latencies)
    return {
        "rows_per_s": rows * len(latencies) / total,
        "calls": len(latencies),
        "p50_ms": float(np.percentile(latencies, 50) * 1e3),
        "p99_ms": float(np.percentile(latencies, 99) * 1e3),
    }


def measure(
    model_repository: Path,
    triton_grpc: str,
    trips: list[dict[str, Any]],
    seconds: float = 3.0,
    model_name: str = "fraud_autoencoder",
) -> dict[str, Any]:
    rows_all = wire.encode_rows(trips)
    scorer = OnnxScorer(model_repository)
    client = grpcclient.InferenceServerClient(url=triton_grpc)
    outputs = [grpcclient.InferRequestedOutput(n) for n in wire.OUTPUT_TENSORS]
    results: dict[str, Any] = {}
    for batch in BATCH_SIZES:
        rows = np.ascontiguousarray(rows_all[:batch])
        tensor = grpcclient.InferInput(wire.INPUT_TENSOR, list(rows.shape), "FP32")
        tensor.set_data_from_numpy(rows)

        def triton_call(tensor: grpcclient.InferInput = tensor) -> object:
            return client.infer(model_name, [tensor], outputs=outputs)

        def ort_call(rows: np.ndarray = rows) -> object:
            return scorer.infer(rows)

        t = _rate(triton_call, batch, seconds)
        o = _rate(ort_call, batch, seconds)
        results[str(batch)] = {"triton": t, "onnxruntime": o, "ratio": t["rows_per_s"] / o["rows_per_s"]}
    client.close()
    return results
