"""The fraud model in-process with ONNX Runtime: the same graph Triton serves, without a server.

Used by ``taxifraud score`` (score a file offline) and by parity tests (torch vs ONNX Runtime vs
Triton). Threads are capped because the callers share a machine with the broker, Triton and tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from taxifraud.config import MODEL_NAME
from taxifraud.wire import INPUT_TENSOR, N_INPUT_COLUMNS, OUTPUT_TENSORS


class OnnxScorer:
    """Load ``<repository>/<model_name>/<version>/model.onnx`` and run it on float32 [B, C] rows."""

    def __init__(
        self,
        model_repository: Path,
        model_name: str = MODEL_NAME,
        version: str = "1",
        threads: int = 1,
    ) -> None:
        self.path = Path(model_repository) / model_name / version / "model.onnx"
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        self.output_names = [o.name for o in self.session.get_outputs()]
        missing = set(OUTPUT_TENSORS) - set(self.output_names)
        if missing:
            raise ValueError(f"{self.path} lacks outputs {sorted(missing)}")

    def infer(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Outputs by tensor name for a [B, C] batch (any float dtype; converted to float32)."""
        batch = np.ascontiguousarray(rows, dtype=np.float32)
        if batch.ndim != 2 or batch.shape[1] != N_INPUT_COLUMNS:
            raise ValueError(f"expected [batch, {N_INPUT_COLUMNS}] rows, got shape {batch.shape}")
        if batch.shape[0] == 0:
            raise ValueError("empty batch")
        outs = self.session.run(list(OUTPUT_TENSORS), {INPUT_TENSOR: batch})
        return dict(zip(OUTPUT_TENSORS, outs, strict=True))
