"""``taxifraud export``: the export pipeline of :mod:`export.export_onnx`, with its parity check against
the real tritonserver, which this layer starts (the offline side does not run servers itself).
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from export import export_onnx
from taxifraud.config import MODEL_NAME
from taxifraud.wire import INPUT_TENSOR, OUTPUT_TENSORS


def triton_outputs(repository: Path, rows: np.ndarray, work_dir: Path) -> dict[str, np.ndarray]:
    """Start the embedded tritonserver on free ports, infer ``rows`` over gRPC, stop it."""
    import tritonclient.grpc as grpcclient

    from operations.embedded.process import free_port
    from operations.embedded.triton import start_triton

    http, grpc, metrics = free_port(), free_port(), free_port()
    proc = start_triton(repository, work_dir, "127.0.0.1", http, grpc, metrics, work_dir / "triton.log")
    try:
        client = grpcclient.InferenceServerClient(f"127.0.0.1:{grpc}")
        results: dict[str, list[np.ndarray]] = {k: [] for k in OUTPUT_TENSORS}
        for i in range(0, len(rows), 1024):
            chunk = rows[i : i + 1024]
            inp = grpcclient.InferInput(INPUT_TENSOR, list(chunk.shape), "FP32")
            inp.set_data_from_numpy(chunk)
            res = client.infer(MODEL_NAME, [inp], outputs=[grpcclient.InferRequestedOutput(k) for k in OUTPUT_TENSORS])
            for k in OUTPUT_TENSORS:
                results[k].append(res.as_numpy(k))
        client.close()
    finally:
        proc.stop()
    return {k: np.concatenate(v) for k, v in results.items()}


def command() -> click.Command:
    """``taxifraud export``: :func:`export.export_onnx.command` with the real tritonserver for its parity check."""
    return export_onnx.command(triton=triton_outputs)
